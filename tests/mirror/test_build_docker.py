"""`--build-with docker:IMAGE`: the build runs inside the image (here a fake `docker` that
runs the command with the real Python 3.7 and records how it was called), with no network;
a compiled wheel built there is accepted for the target."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import config_for
from tests.wheelfactory import SimpleIndex, make_sdist
from wheelhouse.mirror.sync import SyncOptions, sync
from wheelhouse.model.lockfiles import load_lock

pytestmark = pytest.mark.py37

FAKE_DOCKER = """#!{python}
# A stand-in for `docker run [options] IMAGE CMD...`: logs the call, runs CMD here with
# the -e variables, in the -w folder; `python` is $FAKE_DOCKER_PYTHON (the image's).
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
assert args[0] == "run", args
env, cwd, i = dict(os.environ), None, 1
while args[i].startswith("-"):
    flag = args[i]
    if flag == "--rm":
        i += 1
        continue
    value = args[i + 1]
    if flag == "-e":
        key, _, val = value.partition("=")
        env[key] = val
    elif flag == "-w":
        cwd = value
    i += 2
cmd = args[i + 1 :]
if cmd[0] == "python":
    cmd[0] = os.environ["FAKE_DOCKER_PYTHON"]
if cwd:
    os.chdir(cwd)
os.execve(cmd[0], cmd, env)
"""

BINARY_SETUP = """from setuptools import setup
from setuptools.dist import Distribution
class Binary(Distribution):
    def has_ext_modules(self):
        return True
setup(name="compiled", version="1.0", py_modules=["compiled"], distclass=Binary)
"""


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python37: str) -> Path:
    """A fake `docker` first on PATH; returns the file its calls are logged to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("FAKE_DOCKER_PYTHON", python37)
    return log


@pytest.fixture
def url(index: SimpleIndex, tmp_path: Path, serve: Any, build_backend: list[Path]) -> str:
    d = tmp_path / "dists"
    sdist = make_sdist(d, "compiled", "1.0", metadata_version="2.2")
    _with_setup(sdist, BINARY_SETUP)
    index.add(sdist)
    index.add_all(build_backend)
    index.write()
    base, _ = serve(index.root)
    return str(base)


def _with_setup(sdist: Path, text: str) -> None:
    import io
    import tarfile

    with tarfile.open(sdist) as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(sdist, "w:gz") as tf:
        for m, data in members:
            if m.name.endswith("/setup.py"):
                data = text.encode()
                m.size = len(data)
            tf.addfile(m, io.BytesIO(data))


def _locked(tmp_path: Path, url: str) -> Path:
    from wheelhouse.cli import main

    argv = ["lock", "compiled", "-i", f"{url}/simple", "-o", str(tmp_path / "requirements.lock")]
    assert main([*argv, "--allow-sdist"]) == 0
    return tmp_path / "pylock.toml"


def test_a_compiled_wheel_built_inside_the_image_is_kept(
    tmp_path: Path, url: str, docker: Path
) -> None:
    pylock = _locked(tmp_path, url)
    wh = tmp_path / "wh"
    options = SyncOptions(build_with="docker:azureml/sklearn-py37:latest")
    report = sync([pylock], wh, config=config_for(url), options=options)
    assert report.ok, report.failed
    assert [b.wheel for b in report.built] == ["compiled-1.0-cp37-cp37m-linux_x86_64.whl"]
    catalog = json.loads((wh / "wheelhouse.json").read_text())
    built = next(r["built"] for r in catalog["files"] if r.get("built"))
    assert built["builder"] == "docker:azureml/sklearn-py37:latest"
    assert built["network"] is False and built["host_only"] is False
    assert (
        "compiled-1.0-cp37-cp37m-linux_x86_64.whl"
        in (wh / "simple" / "compiled" / "index.html").read_text()
    )
    calls = [json.loads(line) for line in docker.read_text().splitlines()]
    assert all(c[:4] == ["run", "--rm", "--network", "none"] for c in calls)
    assert all("azureml/sklearn-py37:latest" in c for c in calls)
    hooks = [c for c in calls if any("_in_process" in a for a in c)]
    assert hooks and all("SOURCE_DATE_EPOCH=" in " ".join(c) for c in hooks)
    pin = load_lock(pylock).pin("compiled")
    assert pin is not None and built["sdist_sha256"] == pin.files[0].sha256


def test_an_image_of_another_python_is_refused(
    tmp_path: Path, url: str, docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_PYTHON", sys.executable)
    pylock = _locked(tmp_path, url)
    options = SyncOptions(build_with="docker:other-image")
    report = sync([pylock], tmp_path / "wh", config=config_for(url), options=options)
    (failure,) = report.failed
    assert "other-image's python is Python 3." in failure.message
    assert "the target is 3.7" in failure.message

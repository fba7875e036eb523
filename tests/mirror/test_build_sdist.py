"""An sdist-only project, end to end with the real Python 3.7: `lock --allow-sdist
--build-with`, `sync --build-with` (setuptools from the test's own index, no network during
the build), `install` with the provenance checked, and pip on 3.7 installing the built wheel
from `serve`, hashes required."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import config_for
from tests.wheelfactory import SimpleIndex, make_sdist, make_wheel
from wheelhouse.cli import main
from wheelhouse.interpreters import offline_pip_env
from wheelhouse.mirror.sync import SyncOptions, sync
from wheelhouse.model.lockfiles import load_lock
from wheelhouse.sdists import build_wheel

pytestmark = pytest.mark.py37

TINY = "import beta\nVERSION = '1.0'\n"
BINARY_SETUP = """from setuptools import setup
from setuptools.dist import Distribution
class Binary(Distribution):
    def has_ext_modules(self):
        return True
setup(name="compiled", version="1.0", py_modules=["compiled"], distclass=Binary)
"""


@pytest.fixture
def upstream(index: SimpleIndex, tmp_path: Path, serve: Any, build_backend: list[Path]) -> str:
    d = tmp_path / "dists"
    index.add(make_sdist(d, "tinysdist", "1.0", ["beta>=1"], modules={"tinysdist": TINY}))
    index.add(make_wheel(d, "beta", "1.0"))
    compiled = make_sdist(d, "compiled", "1.0", metadata_version="2.2")
    _replace_setup(compiled, BINARY_SETUP)
    index.add(compiled)
    for wheel in build_backend:
        index.add(wheel)
    index.write()
    url, _ = serve(index.root)
    return str(url)


def _replace_setup(sdist: Path, text: str) -> None:
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


def _lock(tmp_path: Path, url: str, python37: str, *reqs: str) -> Path:
    out = tmp_path / "requirements.lock"
    argv = ["lock", *reqs, "-i", f"{url}/simple", "-o", str(out)]
    assert main([*argv, "--allow-sdist", "--build-with", python37]) == 0
    return out


def test_locked_built_installed_and_served(
    tmp_path: Path, upstream: str, python37: str, mirror: Any
) -> None:
    lock_path = _lock(tmp_path, upstream, python37, "tinysdist")
    lock = load_lock(lock_path)
    pin = lock.pin("tinysdist")
    assert pin is not None and pin.from_sdist and pin.built_wheel is not None
    assert pin.requires_dist == ("beta >=1",)  # from the metadata build (PKG-INFO 2.1)
    assert pin.build_requires == ("setuptools==68.0.0", "wheel==0.42.0")
    assert "# built from sdist" in lock_path.read_text()

    wh = tmp_path / "wh"
    pylock = tmp_path / "pylock.toml"
    options = SyncOptions(build_with=python37)
    report = sync([pylock], wh, config=config_for(upstream), options=options)
    assert report.ok, report.failed
    (built,) = report.built
    assert built.wheel == "tinysdist-1.0-py3-none-any.whl"
    assert built.same_as_lock is True  # the lock's build and this one: the same bytes
    catalog = json.loads((wh / "wheelhouse.json").read_text())
    record = next(r for r in catalog["files"] if r["filename"] == built.wheel)
    assert record["built"]["sdist_sha256"] == pin.files[0].sha256
    assert record["built"]["python_version"].startswith("3.7.")
    assert record["built"]["network"] is False  # the build ran without a network
    assert built.wheel in (wh / "simple" / "tinysdist" / "index.html").read_text()

    out = tmp_path / "myenv"
    argv = ["install", str(lock_path), "--wheelhouse", str(wh), "--target", str(out)]
    assert main(argv) == 0
    site = out / "lib" / "python3.7" / "site-packages"
    env = {**offline_pip_env(), "PYTHONPATH": str(site)}
    run = subprocess.run(
        [python37, "-c", "import tinysdist; print(tinysdist.VERSION)"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.stdout.strip() == "1.0", run.stderr
    assert main(["verify", str(out), "--lock", str(lock_path), "--python", python37]) == 0
    sbom = tmp_path / "sbom.json"
    assert main(["sbom", "--artifact", str(out), "-o", str(sbom)]) == 0
    tiny = next(c for c in json.loads(sbom.read_text())["components"] if c["name"] == "tinysdist")
    assert tiny["hashes"][0]["content"] == built.sha256  # the wheel installed
    props = {p["name"]: p["value"] for p in tiny["properties"]}
    assert props["wheelhouse:built"] == f"from the sdist sha256:{pin.files[0].sha256}"

    served = mirror(wh)
    target = tmp_path / "pip-target"
    pip_args = ["install", "--no-deps", "--require-hashes", "-r", str(lock_path)]
    pip = subprocess.run(
        [python37, "-m", "pip", *pip_args, "--index-url", f"{served}/simple", "-t", str(target)],
        capture_output=True,
        text=True,
        env=offline_pip_env(),
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert "tinysdist-1.0-py3-none-any.whl" in pip.stdout  # the built wheel, not the sdist
    assert (target / "tinysdist.py").is_file()


def test_two_builds_give_the_same_bytes(
    tmp_path: Path, upstream: str, python37: str, build_backend: list[Path]
) -> None:
    sdist = tmp_path / "index" / "files" / "tinysdist-1.0.tar.gz"
    first = build_wheel(sdist, python37, "3.7", build_backend, tmp_path / "a", 1600000000)
    second = build_wheel(sdist, python37, "3.7", build_backend, tmp_path / "b", 1600000000)
    assert first.wheel.read_bytes() == second.wheel.read_bytes()
    assert first.isolated_network


def test_a_compiled_wheel_built_on_this_host_is_refused(
    tmp_path: Path, upstream: str, python37: str, capsys: Any
) -> None:
    _lock(tmp_path, upstream, python37, "compiled")
    argv = ["sync", str(tmp_path / "pylock.toml"), "--wheelhouse", str(tmp_path / "wh")]
    assert main([*argv, "--build-with", python37]) == 1
    err = capsys.readouterr().err
    assert "linux_x86_64.whl: compiled" in err and "newer than the target's 2.27" in err
    assert "inside the image" in err
    assert not list((tmp_path / "wh" / "files").glob("compiled-*.whl"))


def test_another_python_is_refused(tmp_path: Path, upstream: str, python37: str) -> None:
    _lock(tmp_path, upstream, python37, "tinysdist")
    argv = ["sync", str(tmp_path / "pylock.toml"), "--wheelhouse", str(tmp_path / "wh")]
    assert main([*argv, "--build-with", sys.executable]) == 2


def test_install_needs_the_built_wheel(
    tmp_path: Path, upstream: str, python37: str, capsys: Any
) -> None:
    lock_path = _lock(tmp_path, upstream, python37, "tinysdist")
    wh = tmp_path / "wh"
    assert main(["sync", str(tmp_path / "pylock.toml"), "--wheelhouse", str(wh)]) == 0
    out = tmp_path / "myenv"
    argv = ["install", str(lock_path), "--wheelhouse", str(wh), "--target", str(out)]
    assert main(argv) == 6
    assert "sync --build-with" in capsys.readouterr().err
    assert (
        main(
            [
                "sync",
                str(tmp_path / "pylock.toml"),
                "--wheelhouse",
                str(wh),
                "--build-with",
                python37,
            ]
        )
        == 0
    )
    built = wh / "files" / "tinysdist-1.0-py3-none-any.whl"
    built.write_bytes(built.read_bytes() + b"\0")  # changed since it was built
    os.utime(built, ns=(0, 0))
    assert main(argv) == 5
    assert "recorded sha256" in capsys.readouterr().err

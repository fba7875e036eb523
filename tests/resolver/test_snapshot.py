"""`wheelhouse snapshot` from a real Python 3.7, a faked docker, and package lists."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from wheelhouse.cli import main
from wheelhouse.model.profile import Profile, load_profile


def read(path: Path) -> Profile:
    return Profile.from_dict(json.loads(path.read_text()))


def test_snapshot_real_python37(tmp_path: Path, python37: str) -> None:
    out = tmp_path / "p.json"
    assert main(["snapshot", "--python", python37, "-o", str(out)]) == 0
    prof = read(out)
    assert prof.python_version.startswith("3.7.")
    assert prof.abis == ("cp37m",)
    assert prof.tags[0].startswith("cp37-cp37m-manylinux_2_")
    assert "pip" in {d.name for d in prof.installed}
    assert prof.markers["python_version"] == "3.7"


def test_snapshot_docker_through_fake_docker(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    log = tmp_path / "docker-args"
    # Stands in for `docker run --rm -i --entrypoint python IMAGE -`: runs the script it is
    # given on stdin with this interpreter and records the arguments it was called with.
    fake.write_text(f'#!/bin/sh\necho "$@" > {log}\nexec {sys.executable} -I -\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "p.json"
    assert main(["snapshot", "--docker", "mcr.example/sklearn:1", "-o", str(out)]) == 0
    assert log.read_text().split() == [
        "run",
        "--rm",
        "-i",
        "--entrypoint",
        "python",
        "mcr.example/sklearn:1",
        "-",
    ]
    prof = read(out)
    assert prof.source == "docker:mcr.example/sklearn:1"
    assert prof.python_version == ".".join(map(str, sys.version_info[:3]))


def test_snapshot_docker_failure_is_clear(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert main(["snapshot", "--docker", "img", "-o", str(tmp_path / "p.json")]) == 1
    assert "Cannot connect to the Docker daemon" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    "content",
    [
        "numpy==1.21.6\nscikit-learn==0.24.1\n# comment\n",
        json.dumps(
            [{"name": "numpy", "version": "1.21.6"}, {"name": "scikit-learn", "version": "0.24.1"}]
        ),
    ],
)
def test_snapshot_freeze(tmp_path: Path, content: str) -> None:
    src = tmp_path / "freeze.txt"
    src.write_text(content)
    out = tmp_path / "p.json"
    assert (
        main(
            [
                "snapshot",
                "--freeze",
                str(src),
                "--python-version",
                "3.7",
                "--platform",
                "manylinux_2_27_x86_64",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    prof = read(out)
    assert {(d.name, d.version) for d in prof.installed} == {
        ("numpy", "1.21.6"),
        ("scikit-learn", "0.24.1"),
    }
    assert prof.installed_requirements_known is False
    assert all(d.requires_dist is None for d in prof.installed)


def test_freeze_bad_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "freeze.txt"
    src.write_text("numpy==1.21.6\nthis is not\n")
    assert main(["snapshot", "--freeze", str(src)]) == 2
    assert "freeze.txt:2" in capsys.readouterr().err


def test_builtin_default_profile_is_a_stand_in() -> None:
    prof = load_profile(None)
    assert prof.name == "azureml-sklearn-0.24.1-py37-cpu"
    assert "STAND-IN" in prof.description
    assert prof.python_version.startswith("3.7.")
    assert prof.tags[0] == "cp37-cp37m-manylinux_2_27_x86_64"
    versions = {d.name: d.version for d in prof.installed}
    assert versions["scikit-learn"] == "0.24.1"
    assert versions["azureml-inference-server-http"] == "0.6.1"
    assert versions["pandas"].startswith("1.1.")
    assert all(d.requires_dist is not None for d in prof.installed)


def test_snapshot_bare_target_from_flags(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert (
        main(
            [
                "snapshot",
                "--python-version",
                "3.7",
                "--platform",
                "manylinux2014_x86_64",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    prof = read(out)
    assert prof.python_version == "3.7.17" and not prof.installed
    assert "3.7.17, the newest 3.7 release" in prof.description

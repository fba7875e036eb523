"""`lock --allow-sdist`: an sdist where no wheel of any acceptable version fits, its metadata
static (PEP 643 PKG-INFO or pyproject [project]), its build requirements resolved for the
target and written beside it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.wheelfactory import SimpleIndex, make_sdist, make_wheel
from wheelhouse.cli import main
from wheelhouse.model.lockfiles import load_lock

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = """
[build-system]
requires = ["setuptools>=60"]
build-backend = "setuptools.build_meta"

[project]
name = "fromproject"
version = "3.0"
requires-python = ">=3.6"
dependencies = ["beta>=1"]
[project.optional-dependencies]
fast = ["zipp"]
"""


@pytest.fixture
def url(index: SimpleIndex, tmp_path: Path, serve: Any) -> str:
    d = tmp_path / "dists"
    index.add(make_sdist(d, "sdonly", "1.0", ["beta>=1"], metadata_version="2.2"))
    index.add(make_sdist(d, "dynamic", "0.6.2", ["beta"]))  # Metadata 2.1: not static
    index.add(make_sdist(d, "fromproject", "3.0", pyproject=PYPROJECT))
    index.add(make_wheel(d, "mixed", "1.0"))
    index.add(make_sdist(d, "mixed", "2.0", metadata_version="2.2"))
    index.add(make_wheel(d, "beta", "1.0"))
    index.add(make_wheel(d, "zipp", "3.6.0"))
    # build requirements: the newest fitting a 3.7 target is picked (Requires-Python)
    index.add(make_wheel(d, "setuptools", "68.0.0", requires_python=">=3.7"))
    index.add(
        make_wheel(d, "setuptools", "75.0.0", requires_python=">=3.8"), requires_python=">=3.8"
    )
    index.add(make_wheel(d, "wheel", "0.42.0", requires_python=">=3.7"))
    index.write()
    base, _ = serve(index.root)
    return f"{base}/simple"


def _lock(tmp_path: Path, url: str, *args: str) -> tuple[int, Path]:
    out = tmp_path / "requirements.lock"
    argv = ["lock", "-i", url, "-o", str(out), "--python-version", "3.7", *args]
    return main(argv), out


def test_sdist_locked_with_its_build_requirements(tmp_path: Path, url: str) -> None:
    code, out = _lock(tmp_path, url, "sdonly", "--allow-sdist", "sdonly")
    assert code == 0
    text = out.read_text()
    assert "sdonly==1.0 \\\n    --hash=sha256:" in text
    assert "# built from sdist" in text
    assert "#   build: setuptools==68.0.0 (for sdonly)" in text
    assert "#   build: wheel==0.42.0 (for sdonly)" in text
    lock = load_lock(out)  # the requirements lock and its pylock.toml agree
    pin = lock.pin("sdonly")
    assert pin is not None and pin.from_sdist and pin.files[0].filename == "sdonly-1.0.tar.gz"
    assert pin.build_requires == ("setuptools==68.0.0", "wheel==0.42.0")
    assert [(p.name, p.version) for p in lock.build_pins()] == [
        ("setuptools", "68.0.0"),
        ("wheel", "0.42.0"),
    ]
    assert {p.name for p in lock.to_install()} == {"sdonly", "beta"}
    doc = tomllib.loads((tmp_path / "pylock.toml").read_text())
    pkg = next(p for p in doc["packages"] if p["name"] == "sdonly")
    assert pkg["sdist"]["name"] == "sdonly-1.0.tar.gz" and "wheels" not in pkg
    assert [p["name"] for p in doc["tool"]["wheelhouse"]["build-packages"]] == [
        "setuptools",
        "wheel",
    ]
    assert all(p["name"] != "setuptools" for p in doc["packages"])  # never installed


def test_a_wheel_of_an_acceptable_version_wins(tmp_path: Path, url: str) -> None:
    code, out = _lock(tmp_path, url, "mixed", "--allow-sdist")
    assert code == 0
    pin = load_lock(out).pin("mixed")
    assert pin is not None and pin.version == "1.0" and not pin.from_sdist
    code, out = _lock(tmp_path, url, "mixed>=2", "--allow-sdist")
    assert code == 0
    pin = load_lock(out).pin("mixed")
    assert pin is not None and pin.version == "2.0" and pin.from_sdist


def test_only_the_named_projects(tmp_path: Path, url: str, capsys: Any) -> None:
    code, _ = _lock(tmp_path, url, "sdonly", "--allow-sdist", "mixed")
    assert code == 3
    assert "lock --allow-sdist NAME builds it" in capsys.readouterr().err


def test_static_metadata_from_pyproject(tmp_path: Path, url: str) -> None:
    code, out = _lock(tmp_path, url, "fromproject[fast]", "--allow-sdist=fromproject")
    assert code == 0
    lock = load_lock(out)
    pin = lock.pin("fromproject")
    assert pin is not None and pin.requires_python == ">=3.6"
    assert "beta>=1" in pin.requires_dist
    assert lock.pin("zipp") is not None  # through the extra
    assert pin.build_requires == ("setuptools==68.0.0",)


def test_dynamic_metadata_needs_the_targets_interpreter(
    tmp_path: Path, url: str, capsys: Any
) -> None:
    code, out = _lock(tmp_path, url, "dynamic", "--allow-sdist")
    assert code == 2
    err = capsys.readouterr().err
    assert "dynamic-0.6.2.tar.gz" in err and "not static (Metadata-Version 2.1)" in err
    assert "--build-with PYTHON" in err
    assert not out.exists()

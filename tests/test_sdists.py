"""The sdist side of building: the build system read (legacy default, malformed tables),
hostile archives refused before anything is unpacked, the build's SOURCE_DATE_EPOCH."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import pytest

from tests.wheelfactory import make_sdist
from wheelhouse.errors import IntegrityError, UsageError
from wheelhouse.sdists import (
    LEGACY_BACKEND,
    LEGACY_REQUIRES,
    build_epoch,
    build_system,
    parse_pyproject,
    sdist_members,
    unpack_sdist,
)


def test_build_system_declared_or_legacy() -> None:
    assert build_system(None, "x").requires == LEGACY_REQUIRES
    assert build_system({"project": {}}, "x").backend == LEGACY_BACKEND
    declared = build_system(
        {"build-system": {"requires": ["flit_core>=3"], "build-backend": "flit_core.buildapi"}},
        "x",
    )
    assert declared.requires == ("flit_core>=3",) and declared.backend == "flit_core.buildapi"
    assert build_system({"build-system": {"requires": []}}, "x").backend == LEGACY_BACKEND


@pytest.mark.parametrize(
    "table",
    [{"requires": "setuptools"}, {"requires": [1]}, {"requires": [], "backend-path": "."}],
)
def test_malformed_build_system_is_named(table: dict[str, object]) -> None:
    with pytest.raises(UsageError, match=re.escape("x-1.0.tar.gz")):
        build_system({"build-system": table}, "x-1.0.tar.gz")


def test_bad_pyproject_is_named() -> None:
    with pytest.raises(UsageError, match=re.escape("x.tar.gz: pyproject.toml is not valid TOML")):
        parse_pyproject(b"[build-system\n", "x.tar.gz")


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


@pytest.mark.parametrize(
    "names",
    [["p-1.0/../../evil"], ["/etc/p-1.0/x"], ["p-1.0/a", "q-1.0/b"]],
)
def test_hostile_names_unpack_nothing(tmp_path: Path, names: list[str]) -> None:
    sdist = _tar(tmp_path / "p-1.0.tar.gz", [_file(n) for n in names])
    with pytest.raises(IntegrityError, match=re.escape("p-1.0.tar.gz")):
        unpack_sdist(sdist, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_links_unpack_nothing(tmp_path: Path) -> None:
    link = tarfile.TarInfo("p-1.0/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    sdist = _tar(tmp_path / "p-1.0.tar.gz", [_file("p-1.0/setup.py"), link])
    with pytest.raises(IntegrityError, match="links or special files"):
        unpack_sdist(sdist, tmp_path / "out")
    assert not (tmp_path / "out" / "p-1.0").exists()


def test_unpacked_as_ours_and_writable(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path, "tiny", "1.0")  # members 0444, owned by uid 501
    src = unpack_sdist(sdist, tmp_path / "out")
    setup = src / "setup.py"
    assert setup.stat().st_mode & 0o200 and setup.stat().st_uid == os.getuid()


def test_top_level_members_only(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path, "tiny", "1.0", pyproject="[project]\nname='tiny'\n")
    found = sdist_members(sdist.read_bytes(), sdist.name, ["pyproject.toml", "PKG-INFO"])
    assert set(found) == {"pyproject.toml", "PKG-INFO"}  # not tiny.egg-info/PKG-INFO
    with pytest.raises(IntegrityError, match="unreadable sdist"):
        sdist_members(b"not a tarball", "tiny-1.0.tar.gz", ["PKG-INFO"])


def test_build_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sdist = make_sdist(tmp_path, "tiny", "1.0")  # members dated 2020-01-01
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert build_epoch(sdist) == 1577836800
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert build_epoch(sdist) == 315532800  # zip cannot store times before 1980
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        build_epoch(sdist)

"""`wheelhouse pack`: same tree, same bytes; a tampered tree is not packed."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from tests.helpers import House, lock_of
from tests.wheelfactory import make_wheel
from wheelhouse.cli import main

SITE = "lib/python3.7/site-packages"


@pytest.fixture
def lock_path(house: House, tmp_path: Path) -> Path:
    build = tmp_path / "build"
    wheels = [
        house.add(
            make_wheel(
                build,
                "alpha",
                "1.0",
                ["beta"],
                entry_points="[console_scripts]\nalpha = alpha:main\n",
            )
        ),
        house.add(make_wheel(build, "beta", "2.0")),
    ]
    return house.write_lock(lock_of(wheels))


def _install(lock: Path, house: House, out: Path) -> None:
    argv = ["install", str(lock), "--wheelhouse", str(house.root), "--target", str(out)]
    assert main(argv) == 0


def test_pack_twice_gives_identical_bytes(
    lock_path: Path, house: House, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    _install(lock_path, house, out1)
    # a second copy made later, with other times and a looser umask
    time.sleep(1.1)
    old = os.umask(0o002)
    try:
        _install(lock_path, house, out2)
    finally:
        os.umask(old)
    os.utime(out2 / SITE / "alpha" / "__init__.py", (1e9, 1e9))
    a1, a2, a3 = tmp_path / "a1.tar.gz", tmp_path / "a2.tar.gz", tmp_path / "a3.tar.gz"
    assert main(["pack", str(out1), "-o", str(a1)]) == 0
    assert main(["pack", str(out1), "-o", str(a2)]) == 0
    assert main(["pack", str(out2), "-o", str(a3)]) == 0
    assert a1.read_bytes() == a2.read_bytes() == a3.read_bytes()

    raw = a1.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime
    assert not raw[3] & 0x08  # no FNAME in the gzip header
    with tarfile.open(a1) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert ".wheelhouse-manifest.json" in names
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
    assert all(m.uname == "" and m.gname == "" for m in members)
    modes = {m.name: m.mode for m in members}
    assert modes["bin/alpha"] == 0o755
    assert modes[f"{SITE}/alpha/__init__.py"] == 0o644
    assert modes["bin"] == 0o755


def test_source_date_epoch_sets_the_entry_times(
    lock_path: Path, house: House, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(lock_path, house, tmp_path / "out")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    assert main(["pack", str(tmp_path / "out"), "-o", str(tmp_path / "a.tar.gz")]) == 0
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {1600000000}


def test_pack_refuses_a_tree_that_no_longer_matches_its_manifest(
    lock_path: Path, house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _install(lock_path, house, out)
    (out / SITE / "beta" / "__init__.py").write_text("EDITED = True\n")
    (out / SITE / "stray.py").write_text("")
    capsys.readouterr()
    assert main(["pack", str(out), "-o", str(tmp_path / "a.tar.gz")]) == 5
    err = capsys.readouterr().err
    assert f"{SITE}/beta/__init__.py: content differs" in err
    assert f"{SITE}/stray.py: not listed in the manifest" in err
    assert not (tmp_path / "a.tar.gz").exists()


def test_pack_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert main(["pack", str(tmp_path / "plain"), "-o", str(tmp_path / "a.tar.gz")]) == 2


def test_verify_refuses_an_artifact_with_traversal(
    lock_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = tmp_path / "evil.tar.gz"
    with gzip.open(evil, "wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in ("lib/python3.7/site-packages/ok.py", "../../escaped.py"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"x\n"))
        link = tarfile.TarInfo("lib/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc"
        tar.addfile(link)
    capsys.readouterr()
    assert main(["verify", str(evil), "--lock", str(lock_path)]) == 5
    err = capsys.readouterr().err
    assert "'..' in path" in err and "a link or special file" in err
    assert not (tmp_path.parent / "escaped.py").exists()


@pytest.mark.py37
def test_compiled_trees_pack_identically(
    lock_path: Path, house: House, tmp_path: Path, python37: str
) -> None:
    artifacts = []
    for name in ("one", "two"):
        out = tmp_path / name
        argv = ["install", str(lock_path), "--wheelhouse", str(house.root), "--target", str(out)]
        assert main([*argv, "--compile-with", python37]) == 0
        assert list(out.rglob("*.pyc"))
        artifacts.append(tmp_path / f"{name}.tar.gz")
        assert main(["pack", str(out), "-o", str(artifacts[-1])]) == 0
    assert artifacts[0].read_bytes() == artifacts[1].read_bytes()


def test_pack_refuses_a_folder_or_itself_as_output(tmp_path: Path) -> None:
    from wheelhouse.cli import main

    out = tmp_path / "t"
    (out).mkdir()
    (tmp_path / "dir").mkdir()
    assert main(["pack", str(out), "-o", str(tmp_path / "dir")]) == 2
    assert main(["pack", str(out), "-o", str(out / "self.tar.gz")]) == 2
    assert not (out / "self.tar.gz").exists()

"""Crafted wheels against `install`: each is refused (or installed within its bounds) with the
project's own error, no hang, memory bounded by a chunk and not by the member's size."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.helpers import House, lock_of, siblings, tree_state
from tests.wheelfactory import make_wheel
from wheelhouse.artifact.install import InstallOptions, install_lock
from wheelhouse.artifact.wheelsource import CENTRAL_DIRECTORY, WHOLE_MEMBER, check_directory_size
from wheelhouse.cli import main
from wheelhouse.errors import IntegrityError

SITE = "lib/python3.7/site-packages"


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def big_wheel(
    folder: Path,
    size: int,
    *,
    member: str = "big/blob.bin",
    fill: bytes = b"\0",
    record_size: int | None = None,
    record_hash: bytes | None = None,
) -> Path:
    """A wheel whose one big member (`size` bytes of `fill`) is written and hashed a MiB at
    a time, RECORD agreeing (unless told its size or hash): small on disk, big unpacked."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "big-1.0-py3-none-any.whl"
    info = "big-1.0.dist-info"
    small = {
        "big/__init__.py": b"",
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    block = (fill * ((1 << 20) // len(fill) + 1))[: 1 << 20]
    digest = hashlib.sha256()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in small.items():
            zf.writestr(name, data)
        zi = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.file_size = size
        with zf.open(zi, "w") as out:
            left = size
            while left:
                chunk = block[: min(left, len(block))]
                out.write(chunk)
                digest.update(chunk)
                left -= len(chunk)
        rows = [f"{n},sha256={_b64(hashlib.sha256(d).digest())},{len(d)}" for n, d in small.items()]
        hashed = _b64(record_hash or digest.digest())
        rows += [f"{member},sha256={hashed},{record_size or size}", f"{info}/RECORD,,"]
        zf.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    return path


def install(lock: Path, house: House, out: Path) -> int:
    return main(["install", str(lock), "--wheelhouse", str(house.root), "--target", str(out)])


def _refused(house: House, wheel: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    lock = house.write_lock(lock_of([house.add(wheel)]), "pylock.hostile.toml")
    capsys.readouterr()
    code = install(lock, house, out)
    err = capsys.readouterr().err
    assert code == 5, err
    assert "Traceback" not in err
    assert not out.exists() and not [n for n in siblings(out) if ".staging-" in n]
    return err


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        # installer's scheme lookup loops forever on these two
        ({"gamma-1.0.data": b"x"}, "a file where the .data folder belongs"),
        ({"./gamma-1.0.data": b"x"}, "empty or '.' path segment"),
        ({"gamma//x.py": b"x"}, "empty or '.' path segment"),
        ({"gamma-1.0.data/purelib": b"x"}, "a file where a .data scheme folder belongs"),
        ({"gamma-1.0.data/evil/x": b"x"}, "not in a known .data scheme"),
        # the tree's own manifest, written by install: no wheel may claim it
        ({"gamma-1.0.data/data/.wheelhouse-manifest.json": b"{}"}, "the tree's own manifest"),
    ],
)
def test_entries_the_installer_cannot_place_are_refused_first(
    entries: dict[str, bytes],
    reason: str,
    house: House,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wheel = make_wheel(tmp_path / "b", "gamma", "1.0", extra_entries=entries)
    err = _refused(house, wheel, tmp_path / "out", capsys)
    assert "gamma 1.0" in err and reason in err, err


def test_oversized_metadata_member_is_refused_unread(
    house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = big_wheel(tmp_path / "b", 17 << 20, member="big-1.0.dist-info/entry_points.txt")
    err = _refused(house, wheel, tmp_path / "out", capsys)
    assert "bytes of metadata (at most 16777216)" in err


def test_a_big_member_streams_and_lands_whole(house: House, tmp_path: Path) -> None:
    size = 3 * WHOLE_MEMBER + 12345
    wheel = big_wheel(tmp_path / "b", size, fill=bytes(range(251)))
    lock = house.write_lock(lock_of([house.add(wheel)]))
    assert install(lock, house, tmp_path / "out") == 0
    blob = tmp_path / "out" / SITE / "big" / "blob.bin"
    assert blob.stat().st_size == size
    assert blob.read_bytes()[:251] == bytes(range(251))


def _patch_declared(wheel: Path, member: str, declared: int) -> None:
    """Make the zip announce `declared` bytes for `member` (local and central headers),
    leaving its deflate stream as it is."""
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as zf:
        struct.pack_into("<L", data, zf.getinfo(member).header_offset + 22, declared)
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        nlen = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + nlen] == member.encode():
            struct.pack_into("<L", data, pos + 24, declared)
        pos = data.find(b"PK\x01\x02", pos + 4)
    wheel.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        (2 * WHOLE_MEMBER, "inflates to more than its entry's size"),
        (5 * WHOLE_MEMBER, "inflates to less than its entry's size"),
    ],
)
def test_a_streamed_member_must_inflate_to_its_declared_size(
    declared: int,
    reason: str,
    house: House,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wheel = big_wheel(tmp_path / "b", 3 * WHOLE_MEMBER, record_size=declared)
    _patch_declared(wheel, "big/blob.bin", declared)
    err = _refused(house, wheel, tmp_path / "out", capsys)
    assert f"big/blob.bin: {reason}" in err, err


def test_a_big_member_whose_bytes_differ_from_record_is_refused(
    house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = big_wheel(tmp_path / "b", 2 * WHOLE_MEMBER, record_hash=b"\1" * 32)
    err = _refused(house, wheel, tmp_path / "out", capsys)
    assert "big/blob.bin does not match its RECORD hash/size" in err


def test_a_big_script_streams_with_its_shebang_rewritten(house: House, tmp_path: Path) -> None:
    body = b"#!python\n" + b"# " + b"x" * (2 * WHOLE_MEMBER) + b"\nprint('ok')\n"
    wheel = make_wheel(
        tmp_path / "b",
        "gamma",
        "1.0",
        files={"gamma/__init__.py": "", "gamma-1.0.data/scripts/tool": body},
    )
    lock = house.write_lock(lock_of([house.add(wheel)]))
    assert install(lock, house, tmp_path / "out") == 0
    tool = (tmp_path / "out" / "bin" / "tool").read_bytes()
    assert tool == b"#!/usr/bin/env python3.7\n" + body.split(b"\n", 1)[1]
    assert os.stat(tmp_path / "out" / "bin" / "tool").st_mode & 0o777 == 0o755


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o002])
def test_install_makes_0644_0755_whatever_the_umask(
    umask: int, house: House, tmp_path: Path
) -> None:
    files = {"gamma/__init__.py": "", "gamma/sub/deep/x.py": "", "gamma-1.0.data/scripts/t": "x"}
    wheel = make_wheel(tmp_path / "b", "gamma", "1.0", files=files)
    lock = lock_of([house.add(wheel)])
    old = os.umask(umask)
    try:
        install_lock(lock, house.root, tmp_path / "out", InstallOptions(processes=False))
    finally:
        os.umask(old)
    for path in [tmp_path / "out", *(tmp_path / "out").rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode in ((0o755,) if path.is_dir() or path.parent.name == "bin" else (0o644,)), (
            path,
            oct(mode),
        )


_PEAK = textwrap.dedent(
    r"""
    import re, sys
    from pathlib import Path
    from wheelhouse.artifact.install import InstallOptions, install_lock
    from wheelhouse.model.lockfiles import load_lock
    from wheelhouse.errors import WheelhouseError
    try:
        install_lock(load_lock(Path(sys.argv[1])), Path(sys.argv[2]), Path(sys.argv[3]),
                     InstallOptions(jobs=1))
        outcome = "installed"
    except WheelhouseError as exc:
        outcome = type(exc).__name__
    # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
    with open("/proc/self/status") as f:
        peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))
    print(outcome, peak_kb // 1024)
    """
)


def test_a_1gib_member_of_a_1mb_wheel_stays_under_100mb_rss(house: House, tmp_path: Path) -> None:
    """The peak RSS of a child process that installs it (and hashes, writes it whole)."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("the peak RSS is read from /proc (Linux)")
    wheel = big_wheel(tmp_path / "b", 1 << 30)
    assert wheel.stat().st_size < 2 << 20
    lock = house.write_lock(lock_of([house.add(wheel)]))
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-c", _PEAK, str(lock), str(house.root), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    outcome, peak_mb = run.stdout.split()
    assert outcome == "installed"
    assert (out / SITE / "big" / "blob.bin").stat().st_size == 1 << 30
    assert int(peak_mb) < 100, f"peak RSS {peak_mb} MB"


def test_the_library_raises_the_projects_error_and_changes_nothing(
    house: House, tmp_path: Path
) -> None:
    wheel = big_wheel(tmp_path / "b", 3 * WHOLE_MEMBER, record_size=2 * WHOLE_MEMBER)
    _patch_declared(wheel, "big/blob.bin", 2 * WHOLE_MEMBER)
    with pytest.raises(IntegrityError, match="inflates to more"):
        install_lock(lock_of([house.add(wheel)]), house.root, tmp_path / "out")
    assert tree_state(tmp_path / "out") == {}


@pytest.mark.parametrize("zip64", [False, True])
def test_a_central_directory_too_big_to_parse_is_refused_before_zipfile_reads_it(
    zip64: bool,
) -> None:
    huge = CENTRAL_DIRECTORY + 1
    if zip64:
        record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 9, 9, huge, 0)
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
        eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 9, 9, 0xFFFFFFFF, 0xFFFFFFFF, 0)
        data = record + locator + eocd
    else:
        data = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 9, 9, huge, 0, 0)
    with pytest.raises(IntegrityError, match=f"a central directory of {huge} bytes"):
        check_directory_size(data, "x 1.0")
    check_directory_size(data.replace(b"PK\x05\x06", b"PK\x05\x07"), "not a zip: left to zipfile")


def test_a_wheel_that_unpacks_to_more_than_the_disk_holds_is_refused_before_writing(
    house: House, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Members that announce 4 GB each, RECORD agreeing, more of them than the disk holds."""
    import shutil

    declared = 0xFFFFFFF0
    names = [f"big/m{i}.bin" for i in range(shutil.disk_usage(tmp_path).free // declared + 1)]
    wheel = tmp_path / "big-1.0-py3-none-any.whl"
    info = "big-1.0.dist-info"
    small = {
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rows = [f"{n},sha256={_b64(hashlib.sha256(d).digest())},{len(d)}" for n, d in small.items()]
    rows += [f"{n},sha256={_b64(bytes(32))},{declared}" for n in names] + [f"{info}/RECORD,,"]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in small.items():
            zf.writestr(name, data)
        for name in names:
            zf.writestr(name, b"")
        zf.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    for name in names:
        _patch_declared(wheel, name, declared)
    lock = house.write_lock(lock_of([house.add(wheel)]))
    capsys.readouterr()
    assert install(lock, house, tmp_path / "out") == 6
    err = capsys.readouterr().err
    assert "big 1.0: unpacks to" in err and "free" in err, err
    assert not (tmp_path / "out").exists()
    assert not [n for n in siblings(tmp_path / "out") if ".staging-" in n]

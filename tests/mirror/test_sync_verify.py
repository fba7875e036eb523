"""`sync --verify` hashes every file again (size and time trusted for nothing) against the
catalog and the locks; `--repair` downloads again what differs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Synced, config_for, write_pylock
from wheelhouse.cli import main
from wheelhouse.mirror.sync import SyncOptions, sync


def _flip_keeping_stat(path: Path) -> None:
    """Flip one byte, then put size and mtime back: what a plain sync cannot see."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def lock(synced: Synced, tmp_path: Path) -> Path:
    return write_pylock(tmp_path / "pylock.again.toml", synced.lock)


def _url(synced: Synced) -> str:
    url = synced.lock.pins[0].files[0].url
    assert url is not None
    return url.split("/files/")[0]


def test_a_flipped_byte_is_found_reported_and_repaired(
    synced: Synced, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = synced.wheels[1].name
    target = synced.root / "files" / name
    _flip_keeping_stat(target)
    tampered = target.read_bytes()
    config = config_for(_url(synced))
    plain = sync([lock], synced.root, config=config)
    assert plain.ok and name in plain.skipped  # size and mtime unchanged: not noticed
    argv = ["sync", str(lock), "--wheelhouse", str(synced.root), "--index-url", _url(synced)]
    assert main([*argv, "--verify"]) == 5
    err = capsys.readouterr().err
    assert f"{name}: sha256:" in err and "differs from the catalog" in err
    assert "--repair" in err and target.read_bytes() == tampered  # reported, left alone
    checked = sync(
        [lock], synced.root, config=config, options=SyncOptions(verify=True, repair=True)
    )
    assert checked.ok and checked.differed == (name,) and checked.verified == 3
    assert name in checked.downloaded
    assert target.read_bytes() == synced.wheels[1].read_bytes()
    assert main([*argv, "--verify"]) == 0


def test_a_tampered_metadata_file_and_a_missing_file_are_found(
    synced: Synced, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = synced.wheels[0].name, synced.wheels[2].name
    meta = synced.root / "files" / (first + ".metadata")
    meta.write_text(meta.read_text() + "Requires-Dist: evil\n")
    (synced.root / "files" / second).unlink()
    options = SyncOptions(verify=True)
    report = sync([lock], synced.root, config=config_for(_url(synced)), options=options)
    failures = {f.what: f.message for f in report.failed}
    assert "PEP 658 .metadata file differs" in failures[first]
    assert "missing from files/" in failures[second]
    assert all(f.exit_code == 5 for f in report.failed)
    repaired = sync(
        [lock],
        synced.root,
        config=config_for(_url(synced)),
        options=SyncOptions(verify=True, repair=True),
    )
    # the missing file left the catalog and the index with the first run: now it is wanted
    assert repaired.ok and repaired.differed == (first,) and second in repaired.downloaded
    assert "evil" not in meta.read_text()
    assert (synced.root / "files" / second).read_bytes() == synced.wheels[2].read_bytes()


def test_repair_needs_verify(
    synced: Synced, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", str(lock), "--wheelhouse", str(synced.root), "--repair"]) == 2
    assert "--repair goes with --verify" in capsys.readouterr().err


def test_an_unknown_file_is_named_but_left_alone(synced: Synced, lock: Path, tmp_path: Any) -> None:
    stray = synced.root / "files" / "stray-1.0-py3-none-any.whl"
    stray.write_bytes(b"not ours")
    options = SyncOptions(verify=True, repair=True)
    report = sync([lock], synced.root, config=config_for(_url(synced)), options=options)
    assert report.ok and report.differed == () and stray.read_bytes() == b"not ours"

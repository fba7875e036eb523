"""`atomic_write_many`: all durable before any rename, renamed in order, no temporaries left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wheelhouse import files


def test_writes_all_in_order_and_leaves_no_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p" / "index.html").parent.mkdir()
    (tmp_path / "p" / "index.html").write_text("old")
    events: list[str] = []
    real_replace, real_fsync = os.replace, files.fsync_paths

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(f"rename {Path(dst).relative_to(tmp_path)}")
        real_replace(src, dst)

    def fsync(paths: list[Path], directories: list[Path]) -> None:
        events.append(f"fsync {len(paths)} files {len(directories)} dirs")
        real_fsync(paths, directories)

    monkeypatch.setattr(files.os, "replace", replace)
    monkeypatch.setattr(files, "fsync_paths", fsync)
    files.atomic_write_many(
        [(tmp_path / "p" / "index.html", b"new"), (tmp_path / "q" / "a.json", b"{}"),
         (tmp_path / "index.html", b"root")]
    )  # fmt: skip
    assert events == [
        "fsync 3 files 0 dirs",
        "rename p/index.html",
        "rename q/a.json",
        "rename index.html",
        "fsync 0 files 3 dirs",
    ]
    assert (tmp_path / "p" / "index.html").read_text() == "new"
    assert (tmp_path / "q" / "a.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []


def test_a_failure_before_the_renames_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").write_text("old")

    def broken(paths: list[Path], directories: list[Path]) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(files, "fsync_paths", broken)
    with pytest.raises(OSError, match="disk gone"):
        files.atomic_write_many([(tmp_path / "a", b"new"), (tmp_path / "b", b"new")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a").read_text() == "old"


def test_writeback_hints_change_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    hints: list[tuple[int, int]] = []
    real = getattr(os, "posix_fadvise", None)

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        hints.append((offset, length))
        if real is not None:
            real(fd, offset, length, advice)

    monkeypatch.setattr(files, "WRITEBACK_EVERY", 10)
    monkeypatch.setattr(files.os, "posix_fadvise", fadvise, raising=False)
    monkeypatch.setattr(files.os, "POSIX_FADV_DONTNEED", 4, raising=False)
    data = bytes(range(256)) * 4
    with files.AtomicFile(tmp_path / "f", part=tmp_path / "f.part") as out:
        for i in range(0, len(data), 64):
            out.write(data[i : i + 64])
        out.commit(hashlib.sha256(data).hexdigest())
    assert (tmp_path / "f").read_bytes() == data
    assert hints[:2] == [(0, 64), (64, 64)] and len(hints) == len(data) // 64

"""The one place that puts files where others will read them: write aside, check, rename.

Every "nothing half-written" promise of wheelhouse rests on these few functions.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from wheelhouse.errors import IntegrityError

WRITEBACK_EVERY = 16 << 20  # bytes written between two hints to start writing them back

# What to do about the filesystem errors a user can act on.
_WHAT_TO_DO = {
    errno.ENOSPC: "the disk is full: free space or choose another folder",
    errno.EDQUOT: "the disk quota is used up: free space or choose another folder",
    errno.EACCES: "no permission: choose a folder you can write to",
    errno.EPERM: "not permitted: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.EFBIG: "a file is over the size this process may write (ulimit -f)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is where a folder should be",
    errno.ENAMETOOLONG: "the path is too long",
}


def os_error_text(exc: OSError, path: Path | str | None = None) -> str:
    """An OSError in words for the user: what failed, on which path (`path` in place of
    the error's own, e.g. the user's folder for a temporary one), and what to do."""
    where = path if path is not None else exc.filename
    text = exc.strerror or str(exc)
    if where:
        text += f": {where}"
    advice = _WHAT_TO_DO.get(exc.errno or 0)
    return f"{text} ({advice})" if advice else text


def renamed_error(exc: OSError, path: Path | str) -> OSError:
    """The same error about `path` (the file the user named, not a temporary beside it)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


class AtomicFile:
    """A file written under a temporary name, hashed while written, renamed on `commit`.

    Used as a context manager: leaving the block without `commit()` (or by an exception)
    removes the temporary file, so the destination is either the old file or the new one.

    With `part` (a fixed temporary path on the same file system), the write resumes: bytes
    already in `part` are hashed and kept, new writes append, and leaving the block by an
    exception keeps `part` for the next attempt (a mismatch on `commit` still removes it).
    """

    def __init__(
        self,
        dest: Path,
        algorithm: str = "sha256",
        mode: int = 0o644,
        *,
        part: Path | None = None,
    ) -> None:
        self.dest = Path(dest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.hasher = hashlib.new(algorithm)
        self.size = 0
        self._keep_on_error = part is not None
        self._file: BinaryIO
        if part is None:
            try:
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{self.dest.name}.", suffix=".part", dir=self.dest.parent
                )
            except OSError as exc:
                raise renamed_error(exc, self.dest) from None
            self._file = os.fdopen(fd, "wb")
            self.tmp = Path(tmp)
        else:
            part.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(part)
            self._file = open(self.tmp, "ab+")  # noqa: SIM115 (closed by commit/discard)
            self._file.seek(0)
            while block := self._file.read(1 << 20):
                self.hasher.update(block)
                self.size += len(block)
        self._mode = mode
        self._done = False
        self._written_back = self.size

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:  # the disk is full: say which file, not the temporary
            raise renamed_error(exc, self.dest) from None
        self.hasher.update(data)
        self.size += len(data)
        if self.size - self._written_back >= WRITEBACK_EVERY:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Have the kernel start writing what is written so far (and drop it from the page
        cache once written): the fsync on `commit` then waits for the tail only, not for the
        whole file. POSIX_FADV_DONTNEED starts that writeback on Linux without waiting."""
        self._file.flush()
        if not hasattr(os, "posix_fadvise"):  # pragma: no cover (not on macOS, Windows)
            return
        os.posix_fadvise(
            self._file.fileno(),
            self._written_back,
            self.size - self._written_back,
            os.POSIX_FADV_DONTNEED,
        )
        self._written_back = self.size

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()

    def commit(self, expected: str | None = None, what: str = "", durable: bool = True) -> Path:
        """Flush, check the hash if one is expected, and move the file into place.

        `durable=False` skips the fsync, for a caller that syncs many files at once later
        (see `fsync_paths`) before anything points at them.
        """
        try:
            self._file.flush()
            if durable:
                os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise renamed_error(exc, self.dest) from None
        got = self.hexdigest()
        if expected is not None and got != expected:
            self.discard()
            raise IntegrityError(
                f"hash mismatch for {what or self.dest.name}: expected "
                f"{self.hasher.name}:{expected}, received {self.hasher.name}:{got}"
            )
        os.chmod(self.tmp, self._mode)
        os.replace(self.tmp, self.dest)
        self._done = True
        return self.dest

    def restart(self) -> None:
        """Throw away what was written so far and start again at byte 0."""
        self._file.seek(0)
        self._file.truncate()
        self.hasher = hashlib.new(self.hasher.name)
        self.size = 0
        self._written_back = 0

    def close_keep(self) -> None:
        """Close without committing or removing (a resumable part stays for the next try)."""
        if not self._file.closed:
            with contextlib.suppress(OSError):  # a full disk: the part keeps what it has
                self._file.flush()
            self._close()
        self._done = True

    def discard(self) -> None:
        if not self._file.closed:
            self._close()
        self.tmp.unlink(missing_ok=True)
        self._done = True

    def _close(self) -> None:
        """Close, even where buffered bytes cannot be written (the error that says why was
        raised already; a second one from here would hide it)."""
        with contextlib.suppress(OSError):
            self._file.close()  # closes the descriptor also when the flush fails

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            if self._keep_on_error and e is not None:
                self.close_keep()
            else:
                self.discard()


def atomic_write(dest: Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Replace ``dest`` with ``data`` in one step (readers see the old or the new file)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with AtomicFile(Path(dest), mode=mode) as f:
        f.write(data)
        return f.commit()


def atomic_write_many(items: Sequence[tuple[Path, bytes]], mode: int = 0o644) -> None:
    """`atomic_write` for many files at once, renamed in the order given.

    Everything is written aside first and made durable together (fsyncs in parallel share
    the file system's journal commits), then each file is renamed into place in order, then
    the directories holding them are synced: a reader never sees a file before the files it
    was listed after, nor a renamed file whose bytes are not on disk. One fsync each, one
    at a time, cost ~1 ms per file (an index of a hundred projects writes 200 pages).
    """
    temps: list[Path] = []
    renamed = 0
    parents = sorted({dest.parent for dest, _ in items})
    for parent in parents:
        parent.mkdir(parents=True, exist_ok=True)
    try:
        for dest, data in items:
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            temps.append(Path(name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(name, mode)
        fsync_paths(temps, [])
        for (dest, _), tmp in zip(items, temps):
            os.replace(tmp, dest)
            renamed += 1
        fsync_paths([], parents)
    finally:
        for tmp in temps[renamed:]:
            tmp.unlink(missing_ok=True)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fsync_paths(paths: list[Path], directories: list[Path]) -> None:
    """Make files (then the directories naming them) durable, many at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    if len(paths) + len(directories) <= 1:
        for path in (*paths, *directories):
            one(path)
        return
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, paths))
        list(pool.map(one, directories))

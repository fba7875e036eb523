"""Where a wheelhouse's bytes live: one interface that a local folder and Azure Blob Storage
both implement, and `open_wheelhouse` that picks one from what the user typed.

Keys are '/'-separated paths relative to the wheelhouse root, exactly the layout of
`wheelhouse.store.layout.Wheelhouse` (``files/<name>``, ``simple/<project>/index.html``,
``wheelhouse.json``). Every method is a coroutine: use one storage inside one running event
loop and `await storage.close()` (or `async with storage:`) when done.

Promises, on both kinds: `put_file` makes a key visible only once the bytes that arrived
have the expected sha256 (never a half-written or wrong file under its name); `put_bytes`
replaces a small object at once (readers see the old bytes or the new); `writer_lock` keeps
two writers apart and gives up after a bounded wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wheelhouse.errors import IntegrityError, UsageError, WheelhouseError
from wheelhouse.files import AtomicFile, atomic_write, os_error_text
from wheelhouse.store.layout import (
    LOCK,
    LOCK_POLL,
    LOCK_WAIT,
    Wheelhouse,
    busy,
    open_lock,
    try_lock,
)
from wheelhouse.store.layout import WriterBusy as WriterBusy  # part of this module's API
from wheelhouse.store.location import AZ_SCHEME as AZ_SCHEME
from wheelhouse.store.location import BlobLocation as BlobLocation
from wheelhouse.store.location import check_key as check_key
from wheelhouse.store.location import is_remote as is_remote
from wheelhouse.store.location import open_wheelhouse as open_wheelhouse
from wheelhouse.store.location import parse_blob_url as parse_blob_url

CHUNK = 1 << 20  # bytes a streamed read yields at a time (at most)
LOCK_KEY = LOCK
MAX_LISTED = 1_000_000  # objects a listing takes before it refuses (a few hundred MB)


@dataclass(frozen=True)
class ObjectInfo:
    """What a storage knows of one object without reading it."""

    key: str
    size: int
    etag: str  # quoted, as HTTP sends it; changes whenever the bytes may have
    modified: float  # POSIX seconds
    sha256: str | None = None  # for files put by `put_file`, where the storage keeps it
    content_type: str | None = None


@dataclass(frozen=True)
class Fetched:
    """The answer to `read`: `data` is None when the caller's ETag still matches."""

    info: ObjectInfo
    data: bytes | None


class Stream(Protocol):
    """An open ranged read: its object's info, then its bytes a chunk at a time."""

    info: ObjectInfo
    start: int  # the first byte sent
    length: int  # how many bytes `chunks` yields in all

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class WriterLock(Protocol):
    """Held while a sync or prune writes. `check` raises WriterBusy if it may be lost (a
    lease that could not be renewed, or not renewed for its duration less a margin, as after
    a pause): call it immediately before each write or delete that switches or removes."""

    def check(self) -> None: ...


class Storage(Protocol):
    """A wheelhouse's objects: read, list, put verified, replace small ones, delete."""

    @property
    def url(self) -> str:
        """How to name it to the user: a folder path or az://CONTAINER/PREFIX (no secrets)."""

    @property
    def local_root(self) -> Path | None:
        """The folder, for a local wheelhouse (None for object storage)."""

    @property
    def account(self) -> str:
        """Which storage account `url` is in (its endpoint and name, never a secret), "" for
        a folder: the same az:// URL in two accounts is two wheelhouses."""

    async def stat(self, key: str) -> ObjectInfo | None:
        """The object's info, None where there is none."""

    async def read(
        self, key: str, *, if_none_match: str | None = None, max_bytes: int = 64 << 20
    ) -> Fetched | None:
        """The whole object (bounded: more than `max_bytes` is an IntegrityError), or only
        its info where `if_none_match` is its current ETag. None where there is none."""

    async def open_read(self, key: str, start: int = 0, length: int | None = None) -> Stream | None:
        """Bytes [start, start+length) streamed (to the end where length is None; a start
        past the end yields nothing). None where there is no object."""

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with `prefix` (e.g. "files/"), sorted by key."""

    async def put_file(
        self,
        key: str,
        path: Path,
        sha256: str,
        *,
        content_type: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        """Copy a local file to `key`; it appears there only if the bytes sent hash to
        `sha256` (else IntegrityError, nothing visible). Resumes an earlier interrupted
        upload of the same bytes. `progress` is called with each count of bytes sent."""

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        """Replace `key` with `data` at once."""

    async def delete(self, key: str) -> None:
        """Remove `key` (nothing where it is already gone)."""

    def writer_lock(self, wait: float = LOCK_WAIT) -> AbstractAsyncContextManager[WriterLock]:
        """The exclusive writers' lock: waits up to `wait` seconds, then WriterBusy."""

    async def close(self) -> None:
        """Release connections."""


# -- the local folder -----------------------------------------------------------------


class _FileStream:
    def __init__(self, path: Path, info: ObjectInfo, start: int, length: int) -> None:
        self.info = info
        self.start = start
        self.length = length
        self._path = path

    async def chunks(self) -> AsyncIterator[bytes]:
        left = self.length
        with open(self._path, "rb") as f:
            f.seek(self.start)
            while left > 0:
                data = await asyncio.to_thread(f.read, min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data

    async def aclose(self) -> None:
        pass


class _LocalLock:
    def check(self) -> None:
        pass


class LocalStorage:
    """A wheelhouse folder as a Storage. ETags are size and mtime, as `serve` gives them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    @property
    def url(self) -> str:
        return str(self.root)

    @property
    def local_root(self) -> Path | None:
        return self.root

    @property
    def account(self) -> str:
        return ""

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=f'"{st.st_size:x}-{st.st_mtime_ns:x}"',
            modified=st.st_mtime_ns / 1e9,
        )

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WheelhouseError(os_error_text(exc)) from None
        import stat as _stat

        return self._info(key, st) if _stat.S_ISREG(st.st_mode) else None

    async def read(
        self, key: str, *, if_none_match: str | None = None, max_bytes: int = 64 << 20
    ) -> Fetched | None:
        path = self.path(key)
        try:
            with open(path, "rb") as f:
                info = self._info(key, os.fstat(f.fileno()))
                if if_none_match is not None and if_none_match == info.etag:
                    return Fetched(info, None)
                if info.size > max_bytes:
                    raise IntegrityError(f"{path}: over {max_bytes} bytes")
                data = f.read(max_bytes + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise WheelhouseError(os_error_text(exc)) from None
        if len(data) > max_bytes:
            raise IntegrityError(f"{path}: over {max_bytes} bytes")
        return Fetched(info, data)

    async def open_read(self, key: str, start: int = 0, length: int | None = None) -> Stream | None:
        info = await self.stat(key)
        if info is None:
            return None
        start = min(max(0, start), info.size)
        left = info.size - start
        return _FileStream(
            self.path(key), info, start, left if length is None else min(length, left)
        )

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> list[ObjectInfo]:
        base, _, _ = prefix.rpartition("/")
        top = self.root / base if base else self.root
        out: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.startswith("."):
                    continue  # temporaries, the lock, resumable parts
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    if len(out) >= MAX_LISTED:
                        raise UsageError(f"{self.root}: over {MAX_LISTED} files under {prefix}")
                    try:
                        out.append(self._info(key, full.stat()))
                    except FileNotFoundError:
                        continue
        return sorted(out, key=lambda i: i.key)

    async def put_file(
        self,
        key: str,
        path: Path,
        sha256: str,
        *,
        content_type: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        dest = self.path(key)

        def copy() -> None:
            with AtomicFile(dest) as out, open(path, "rb") as f:
                while block := f.read(CHUNK):
                    out.write(block)
                    if progress is not None:
                        progress(len(block))
                out.commit(sha256, key)

        await asyncio.to_thread(copy)
        info = await self.stat(key)
        if info is None:  # pragma: no cover (removed under us)
            raise WheelhouseError(f"{dest}: gone right after it was written")
        return ObjectInfo(info.key, info.size, info.etag, info.modified, sha256, content_type)

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        await asyncio.to_thread(atomic_write, self.path(key), data)
        info = await self.stat(key)
        if info is None:  # pragma: no cover (removed under us)
            raise WheelhouseError(f"{self.path(key)}: gone right after it was written")
        return info

    async def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise WheelhouseError(os_error_text(exc)) from None

    @asynccontextmanager
    async def writer_lock(self, wait: float = LOCK_WAIT) -> AsyncIterator[WriterLock]:
        """The same lock as `wheelhouse.store.layout.writer_lock`, waited for without
        blocking the event loop."""
        fd = open_lock(Wheelhouse(self.root))
        try:
            deadline = time.monotonic() + wait
            while not try_lock(fd):
                if time.monotonic() >= deadline:
                    raise busy(self.root, wait)
                await asyncio.sleep(LOCK_POLL)
            yield _LocalLock()
        finally:
            os.close(fd)  # closing releases the lock

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> LocalStorage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def local_key(storage: Storage) -> str:
    """The name of the local folders kept for `storage` (staging, copies): its account and
    URL hashed, so that the same az:// URL in two accounts never shares one."""
    who = f"{storage.account}\n{storage.url}" if storage.account else storage.url
    return hashlib.sha256(who.encode()).hexdigest()[:16]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

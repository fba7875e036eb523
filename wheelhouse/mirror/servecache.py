"""What `serve` answers from: a source of the wheelhouse's objects, and a per-process cache
of the small ones (index pages, PEP 658 metadata, small files) holding each response ready
to send.

A source names objects by key relative to the wheelhouse (``simple/index.html``,
``simple/<project>/index.json``, ``files/<name>``, ``last-sync.json``). `LocalSource` reads a
folder (refusing links that lead out of it); `StorageSource` reads any
`wheelhouse.store.storage.Storage`, object storage (az://) in particular. The cache asks the
source again about an object at most every `revalidate` seconds (a conditional read: the
body only when its ETag changed), so an index page or a 304 costs no system call nor request
in between. When the source cannot be read, what is held is answered (and said so in the
log) until it can again.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from wheelhouse.errors import IntegrityError, UsageError, WheelhouseError
from wheelhouse.store.storage import ObjectInfo, Storage, check_key

Message = MutableMapping[str, Any]
log = logging.getLogger("wheelhouse")

CHUNK = 1 << 18  # bytes a streamed response sends at a time
THREADED_READ = 1 << 20  # local files above this are read off the event loop
CACHE_BYTES = 64 << 20  # per worker process
CACHE_ENTRIES = 50_000  # negative entries (a project that is not there) count too
PAGE_LIMIT = 16 << 20  # a page bigger than this is streamed from the source, not cached
SMALL_FILE = 1 << 16  # files up to this size (metadata, small wheels) are cached


@dataclass(frozen=True)
class Stat:
    """What a source says about an object: its size, its ETag (quoted, as in HTTP: it
    changes whenever the object does) and when it was last written (seconds since 1970)."""

    size: int
    etag: str
    modified: float


class Miss(enum.Enum):
    NOT_MODIFIED = "not modified"  # the object still has the ETag the caller knew


@dataclass(frozen=True)
class Large:
    """An object over the caller's limit: streamed from the source, not held."""

    stat: Stat


@dataclass(frozen=True)
class Fetched:
    data: bytes
    stat: Stat


if TYPE_CHECKING:
    FetchResult = Fetched | Large | Literal[Miss.NOT_MODIFIED] | None


class Body(Protocol):
    """An object opened for streaming: what it was when opened, and its bytes."""

    stat: Stat

    def chunks(self, start: int, length: int) -> AsyncIterator[bytes]:
        """`length` bytes from `start`, at most CHUNK at a time; ends short if the object
        changed since it was opened."""
        ...

    async def aclose(self) -> None: ...


class Source(Protocol):
    """Where the wheelhouse's objects are read from (read-only)."""

    revalidate: float  # the cache's default interval for this kind of source, seconds

    def describe(self) -> str:
        """The wheelhouse for messages (a folder, or an az:// URL without credentials)."""
        ...

    async def fetch(self, key: str, known_etag: str | None, limit: int) -> FetchResult:
        """The object if it is at most `limit` bytes; NOT_MODIFIED if its ETag is still
        `known_etag`; Large if it is bigger; None if there is no such object."""
        ...

    async def open(self, key: str, known: Stat | None = None) -> Body | None:
        """The object for streaming; `known` is what a recent fetch said of it (a source
        that can trust it saves a request)."""
        ...

    async def aclose(self) -> None: ...


# -- a local folder --------------------------------------------------------------------


def _local_etag(st: os.stat_result) -> str:
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


def _local_stat(st: os.stat_result) -> Stat:
    return Stat(st.st_size, _local_etag(st), st.st_mtime)


class LocalSource:
    """A wheelhouse folder. Only regular files are served, and only those that resolve,
    every link followed, inside the folder their key names (``simple/`` or ``files/``; the
    wheelhouse itself for a top-level key): a link leading out is as good as missing."""

    revalidate = 1.0

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._real = {
            top: os.path.realpath(self.root / top) + os.sep for top in ("simple", "files")
        }
        self._real[""] = os.path.realpath(self.root) + os.sep

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> str | None:
        """The object's path if the key is well formed and the path stays inside."""
        top, sep, _ = key.partition("/")
        allowed = self._real.get(top if sep else "")
        if allowed is None or "\0" in key or any(p in ("", ".", "..") for p in key.split("/")):
            return None
        path = os.path.join(self.root, key)
        return path if os.path.realpath(path).startswith(allowed) else None

    async def fetch(self, key: str, known_etag: str | None, limit: int) -> FetchResult:
        path = self._path(key)
        if path is None:
            return None
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        if known_etag is not None and _local_etag(st) == known_etag:
            return Miss.NOT_MODIFIED
        if st.st_size > limit:
            return Large(_local_stat(st))
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as f:
                fst = os.fstat(f.fileno())
                data = f.read(limit + 1)
        except OSError:
            return None
        if not stat.S_ISREG(fst.st_mode) or len(data) != fst.st_size or len(data) > limit:
            return None  # replaced while we looked: the next request sees the new one
        return Fetched(data, _local_stat(fst))

    async def open(self, key: str, known: Stat | None = None) -> Body | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        f = os.fdopen(fd, "rb")
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            f.close()
            return None
        return _LocalBody(f, _local_stat(fst))

    async def aclose(self) -> None:
        return None


class _LocalBody:
    def __init__(self, f: Any, st: Stat) -> None:
        self._f = f
        self.stat = st

    async def chunks(self, start: int, length: int) -> AsyncIterator[bytes]:
        """The open file's bytes (the file replaced meanwhile does not matter: this one
        stays readable); big reads go to a thread."""
        self._f.seek(start)
        remaining = length
        threaded = length > THREADED_READ
        while remaining > 0:
            n = min(CHUNK, remaining)
            block = await asyncio.to_thread(self._f.read, n) if threaded else self._f.read(n)
            if not block:
                return  # the file shrank under us: end short
            remaining -= len(block)
            yield block

    async def aclose(self) -> None:
        self._f.close()


# -- object storage ------------------------------------------------------------------------


def _stat_of(info: ObjectInfo) -> Stat:
    return Stat(info.size, info.etag, info.modified)


class StorageSource:
    """A wheelhouse in object storage (`wheelhouse.store.storage.Storage`, az://). A page is
    read again conditionally on the ETag held; of a file the size and ETag are asked first
    (a HEAD, which is also its revalidation), so that a big wheel is never read whole; that
    stat is trusted for streaming until due again (a ranged read that finds another ETag
    ends the response short)."""

    revalidate = 5.0

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def describe(self) -> str:
        return self.storage.url

    async def fetch(self, key: str, known_etag: str | None, limit: int) -> FetchResult:
        try:
            check_key(key)
        except UsageError:
            return None
        if not key.startswith("simple/"):  # a file may be big: its size (and ETag) first
            info = await self.storage.stat(key)
            if info is None:
                return None
            if info.etag == known_etag:
                return Miss.NOT_MODIFIED
            if info.size > limit:
                return Large(_stat_of(info))
            known_etag = None
        try:
            got = await self.storage.read(key, if_none_match=known_etag, max_bytes=limit)
        except IntegrityError:  # over the limit (it grew since, or a page this big)
            info = await self.storage.stat(key)
            return None if info is None else Large(_stat_of(info))
        if got is None:
            return None
        if got.data is None:
            return Miss.NOT_MODIFIED
        return Fetched(got.data, _stat_of(got.info))

    async def open(self, key: str, known: Stat | None = None) -> Body | None:
        try:
            check_key(key)
        except UsageError:
            return None
        if known is None:
            info = await self.storage.stat(key)
            if info is None:
                return None
            known = _stat_of(info)
        return _StorageBody(self.storage, key, known)

    async def aclose(self) -> None:
        await self.storage.close()


class _StorageBody:
    def __init__(self, storage: Storage, key: str, st: Stat) -> None:
        self._storage = storage
        self._key = key
        self.stat = st

    async def chunks(self, start: int, length: int) -> AsyncIterator[bytes]:
        stream = await self._storage.open_read(self._key, start, length)
        if stream is None:
            return
        try:
            if stream.info.etag != self.stat.etag:
                log.warning("%s changed while being served: response ended short", self._key)
                return
            async for chunk in stream.chunks():
                yield chunk
        finally:
            await stream.aclose()

    async def aclose(self) -> None:
        return None


# -- the cache ---------------------------------------------------------------------------


Headers = list[tuple[bytes, bytes]]


class Reply:
    """A whole response made once: the two ASGI messages `serve` sends for it, and for the
    fast path below ASGI (httplimits) the same headers as bytes (each ``name: value`` line
    and the blank line; the status line and the server's own headers are the server's)."""

    __slots__ = ("body", "data", "head", "sent", "start", "status")

    def __init__(self, status: int, headers: Headers, data: bytes = b"") -> None:
        self.status = status
        self.start: Message = {"type": "http.response.start", "status": status, "headers": headers}
        self.body: Message = {"type": "http.response.body", "body": data}
        self.data = data
        self.sent = len(data)  # body bytes (a server leaves them out for HEAD)
        self.head = b"".join([name + b": " + value + b"\r\n" for name, value in headers]) + b"\r\n"


@dataclass
class Cached:
    """One object held in memory with its responses made once: per content type, its 200,
    the same without a body (HEAD) and its 304."""

    data: bytes
    etag: str  # of the content: replicas reading the same bytes send the same ETag
    modified: float
    headers: Headers  # everything but content-type and content-length
    _replies: dict[str, tuple[Reply, Reply, Reply]] = field(default_factory=dict)

    def replies(self, content_type: str) -> tuple[Reply, Reply, Reply]:
        """(200, 200 to a HEAD, 304) with this content type."""
        made = self._replies.get(content_type)
        if made is None:
            ctype = (b"content-type", content_type.encode("latin-1"))
            ok = [(b"content-length", str(len(self.data)).encode()), ctype, *self.headers]
            not_modified = [(b"content-length", b"0"), ctype, *self.headers]
            made = (Reply(200, ok, self.data), Reply(200, ok), Reply(304, not_modified))
            self._replies[content_type] = made
        return made


@dataclass
class _Entry:
    checked: float  # monotonic time the source was last asked
    source_etag: str | None  # what to revalidate with; None: the object was missing
    value: Cached | Large | None


def content_etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class ObjectCache:
    """Small objects of one source, each asked again at most every `revalidate` seconds.

    `headers_for(key)` gives the constant headers of an object's responses. Bounded by
    bytes and entries (oldest refreshed first out); concurrent misses of one key share one
    read."""

    def __init__(
        self,
        source: Source,
        headers_for: Callable[[str, str], Headers],
        revalidate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget: int = CACHE_BYTES,
    ) -> None:
        self.source = source
        self.revalidate = source.revalidate if revalidate is None else revalidate
        self._headers_for = headers_for
        self._clock = clock
        self._budget = budget
        self._entries: dict[str, _Entry] = {}
        self._bytes = 0
        self._inflight: dict[str, asyncio.Future[_Entry]] = {}

    def fresh(self, key: str) -> Cached | None:
        """The hot path: the object if held and asked about recently; else None (ask `get`)."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.checked < self.revalidate:
            value = entry.value
            return value if isinstance(value, Cached) else None
        return None

    async def get(self, key: str, limit: int) -> Cached | Large | None:
        """The object (or Large: stream it; None: missing), asking the source if due."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.checked < self.revalidate:
            return entry.value
        pending = self._inflight.get(key)
        if pending is not None:
            return (await asyncio.shield(pending)).value
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            entry = await self._refresh(key, entry, limit)
            future.set_result(entry)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[key]
        return entry.value

    async def _refresh(self, key: str, old: _Entry | None, limit: int) -> _Entry:
        known = old.source_etag if old is not None else None
        try:
            got = await self.source.fetch(key, known, limit)
        except (WheelhouseError, OSError) as exc:
            if old is None or old.value is None:
                raise
            log.warning("%s: %s; answering with what was read before", key, exc)
            old.checked = self._clock()  # asked again after the interval, not every request
            return old
        now = self._clock()
        if got is Miss.NOT_MODIFIED and old is not None:
            old.checked = now
            self._entries.pop(key)
            self._entries[key] = old  # to the back of the eviction order
            return old
        if isinstance(got, Fetched):
            etag = content_etag(got.data)
            cached = Cached(got.data, etag, got.stat.modified, self._headers_for(key, etag))
            return self._store(key, _Entry(now, got.stat.etag, cached), len(got.data))
        if isinstance(got, Large):
            return self._store(key, _Entry(now, None, got), 0)
        return self._store(key, _Entry(now, None, None), 0)

    def _store(self, key: str, entry: _Entry, size: int) -> _Entry:
        old = self._entries.pop(key, None)
        if old is not None and isinstance(old.value, Cached):
            self._bytes -= len(old.value.data)
        if size > self._budget // 4:
            return entry  # answered, not kept: it would push out everything else
        self._entries[key] = entry
        self._bytes += size
        while self._bytes > self._budget or len(self._entries) > CACHE_ENTRIES:
            oldest = next(iter(self._entries))
            gone = self._entries.pop(oldest)
            if isinstance(gone.value, Cached):
                self._bytes -= len(gone.value.data)
        return entry

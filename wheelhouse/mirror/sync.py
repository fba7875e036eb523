"""`sync`: bring exactly the files the locks pin into a wheelhouse, verified, then index it.

Downloads run concurrently through the one HTTP client, stream into a resumable part file
under ``.partial/`` while hashing, and are renamed into ``files/`` only once the hash matched.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from wheelhouse.errors import IntegrityError, NetworkError, WheelhouseError
from wheelhouse.files import AtomicFile, fsync_paths, sha256_file
from wheelhouse.mirror.catalog import (
    NOT_CATALOGUED,
    FileRecord,
    load_catalog,
    record_for,
    rehash_all,
    save_catalog,
    save_sync_stamp,
    verified,
)
from wheelhouse.mirror.static_index import write_index
from wheelhouse.mirror.wanted import Wanted, iso_utc, merge_wanted, wanted_for_lock
from wheelhouse.model.filenames import parse_filename, wheel_fits
from wheelhouse.model.lockfiles import load_lock
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.net.urls import local_path, redact_url, strip_credentials
from wheelhouse.store.layout import METADATA_SUFFIX, Wheelhouse, writer_lock
from wheelhouse.store.location import is_remote, open_wheelhouse

if TYPE_CHECKING:  # httpx (~50 ms to import) only once there is something to fetch
    import httpx

    from wheelhouse.mirror.advisories import AdvisoriesKept
    from wheelhouse.mirror.builds import BuiltWheel
    from wheelhouse.model.lock import Lock
    from wheelhouse.net.pages import DistFile
    from wheelhouse.net.reader import IndexReader

log = logging.getLogger("wheelhouse")
T = TypeVar("T")
EventKind = Literal["plan", "skip", "start", "bytes", "done", "failed", "index"]


@dataclass(frozen=True)
class SyncEvent:
    """Progress, for the caller to render. `count` is bytes for "bytes", files for "plan"."""

    kind: EventKind
    filename: str = ""
    count: int = 0
    total: int | None = None
    message: str = ""


Progress = Callable[[SyncEvent], None]


@dataclass(frozen=True)
class Failure:
    what: str  # the file, or the pin (name==version), or the step that failed
    message: str
    exit_code: int
    project: str | None = None  # the project it is a file of, where it is one

    def to_dict(self) -> dict[str, Any]:
        """For the summary: the project, the file (where one is named) and the reason."""
        return {
            "name": self.project,
            "file": self.what if parse_filename(self.what) else None,
            "reason": self.message,
            "exit_code": self.exit_code,
        }


SUMMARY_FORMAT = 1  # raised when a key of the summary changes meaning or goes away


@dataclass(frozen=True)
class SyncReport:
    wheelhouse: str
    verified: int = 0  # files hashed again by --verify
    differed: tuple[str, ...] = ()  # what --verify found different (repaired with --repair)
    downloaded: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[Failure, ...] = ()
    bytes_downloaded: int = 0
    seconds: float = 0.0
    indexed_files: int = 0
    advisories: AdvisoriesKept | None = None  # the OSV export kept, with --advisories
    built: tuple[BuiltWheel, ...] = ()  # wheels built from locked sdists, with --build-with

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0; or the failures' exit code when they agree, else 1."""
        codes = {f.exit_code for f in self.failed}
        return 0 if not codes else codes.pop() if len(codes) == 1 else 1

    def summary(
        self, locks: Sequence[str] = (), error: str | None = None, error_code: int = 1
    ) -> dict[str, Any]:
        """What `sync --json` prints, also when an `error` stopped the run before it had a
        report (a bad lock, the wheelhouse held by another sync, an unreachable index):
        stable keys a scheduler can alert on (README, "sync --json")."""
        return {
            "format": SUMMARY_FORMAT,
            **self.to_dict(),
            "ok": self.ok and error is None,
            "exit_code": error_code if error is not None else self.exit_code,
            "error": error,
            "locks": [str(p) for p in locks],
            "counts": {
                "downloaded": len(self.downloaded),
                "present": len(self.skipped),
                "failed": len(self.failed),
                "built": sum(1 for b in self.built if not b.reused),
                "reused": sum(1 for b in self.built if b.reused),
                "verified": self.verified,
                "differed": len(self.differed),
                "indexed": self.indexed_files,
            },
            "failures": [f.to_dict() for f in self.failed],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "wheelhouse": self.wheelhouse,
            "ok": self.ok,
            "verified": self.verified,
            "differed": list(self.differed),
            "downloaded": list(self.downloaded),
            "skipped": list(self.skipped),
            "failed": [{"file": f.what, "error": f.message} for f in self.failed],
            "bytes_downloaded": self.bytes_downloaded,
            "seconds": round(self.seconds, 3),
            "indexed_files": self.indexed_files,
            "advisories": self.advisories.to_dict() if self.advisories else None,
            "built": [b.to_dict() for b in self.built],
        }


@dataclass(frozen=True)
class Download:
    filename: str
    url: str
    sha256: str
    upload_time: str | None
    requires_python: str | None
    size: int | None = None


@dataclass
class _Run:
    """Mutable state of one sync run (kept out of the frozen report until the end)."""

    wheelhouse: Wheelhouse
    make_client: Callable[[], httpx.AsyncClient]
    config: IndexConfig
    emit: Progress
    records: dict[str, FileRecord]
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    nbytes: int = 0
    max_file_size: int = 0  # for files whose lock gives no size
    # called with the record of each file verified into the wheelhouse (or found there),
    # before it counts as done: a sync into object storage uploads it from here, while
    # other files download
    on_file: Callable[[FileRecord], Awaitable[None]] | None = None
    opened: httpx.AsyncClient | None = None
    _reader: IndexReader | None = None

    def client(self) -> httpx.AsyncClient:
        """The HTTP client, made on first use: a sync with nothing to fetch needs none."""
        if self.opened is None:
            self.opened = self.make_client()
        return self.opened

    def reader(self) -> IndexReader:
        """The index reader for pins without a URL (each project's pages read once)."""
        if self._reader is None:
            from wheelhouse.net.cache import Cache
            from wheelhouse.net.reader import IndexReader

            self._reader = IndexReader(
                self.client(),
                Cache(None),
                self.config.indexes(),
                self.config.find_links,
                retries=self.config.retries,
            )
        return self._reader


@dataclass(frozen=True)
class SyncOptions:
    jobs: int = 8  # downloads at once, each on its own connection
    timeout: float | None = None  # seconds without data before a retry (default: pip's)
    # HTTP/2 where the server offers it: one multiplexed connection, but in Python about
    # twice the CPU per byte of HTTP/1.1 (see `make_client`)
    http2: bool = False
    # the most bytes taken for one file whose lock gives no size (a lock's size is exact)
    max_file_size: int = 8 << 30
    # hash every file again against the catalog and the locks, not only new ones
    verify: bool = False
    # with verify: download again what differs (else it is reported, left as it is)
    repair: bool = False
    advisories: str | None = None  # an OSV export to keep for offline audits (URL or path)
    build_with: str | None = None  # the target's interpreter: build the locked sdists
    # where a sync into object storage verifies its downloads (default: in the cache)
    staging: Path | None = None


def sync(
    lock_paths: Sequence[Path],
    wheelhouse_dir: Path | str,
    *,
    config: IndexConfig,
    options: SyncOptions = SyncOptions(),
    progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SyncReport:
    """Download what `lock_paths` pin into `wheelhouse_dir` (a folder, or az://CONTAINER/PREFIX
    in Azure Blob Storage: `wheelhouse.mirror.remote`); regenerate its index.

    `transport` replaces the network (tests hand httpx's MockTransport)."""
    started = time.monotonic()
    locks = [load_lock(p) for p in lock_paths]
    wanted = merge_wanted(wanted_for_lock(lock) for lock in locks)
    if is_remote(wheelhouse_dir):
        from wheelhouse.mirror.remote import staging_for, sync_to_storage

        storage = open_wheelhouse(wheelhouse_dir)
        return sync_to_storage(
            storage,
            wanted,
            config=config,
            options=options,
            staging=options.staging or staging_for(storage),
            progress=progress,
            transport=transport,
        )
    wh = Wheelhouse(Path(wheelhouse_dir))
    built: list[BuiltWheel] = []
    with writer_lock(wh):
        wh.create()
        records = load_catalog(wh)
        checked = len(wh.distribution_files()) if options.verify else 0
        differ = _verify_all(wh, records, wanted, options) if options.verify else {}
        held = [] if options.repair else _hold(differ, wanted)
        todo = [w for w in wanted if w.filename not in differ] if held else wanted
        run = run_loop(_sync_all(wh, todo, config, options, progress, transport, records))
        run.failed += held
        try:
            if options.build_with and not run.failed:
                built = _build(run, locks, options.build_with)
            fsync_paths([], [wh.files])  # the renames of the files (each fsynced on commit)
            fresh = write_index(wh, run.records)
        except BaseException:
            save_catalog(wh, run.records)
            raise
        save_catalog(wh, fresh)
        kept = None
        if options.advisories:
            from wheelhouse.mirror.advisories import keep_advisories

            kept = keep_advisories(wh, options.advisories, config, transport)
        if not run.failed:
            save_sync_stamp(wh, len(fresh))
    (progress or _ignore)(SyncEvent("index", count=len(fresh)))
    return SyncReport(
        wheelhouse=str(wh.root),
        verified=checked,
        differed=tuple(sorted(differ)),
        downloaded=tuple(sorted(run.downloaded)),
        skipped=tuple(sorted(run.skipped)),
        failed=tuple(sorted(run.failed, key=lambda f: f.what)),
        bytes_downloaded=run.nbytes,
        seconds=time.monotonic() - started,
        indexed_files=len(fresh),
        advisories=kept,
        built=tuple(built),
    )


def _build(run: _Run, locks: Sequence[Lock], python: str) -> list[BuiltWheel]:
    """The locked sdists built; a failure is reported with the others, and the index is
    still written for what was synced."""
    from wheelhouse.mirror.builds import build_locked_sdists

    try:
        return build_locked_sdists(run.wheelhouse, locks, run.records, python)
    except WheelhouseError as exc:
        run.failed.append(Failure("building the locked sdists", str(exc), exc.exit_code))
        return []


def _verify_all(
    wh: Wheelhouse, records: dict[str, FileRecord], wanted: list[Wanted], options: SyncOptions
) -> dict[str, str]:
    """Hash every file again; what differs from the catalog or from the locks, by name.
    With `repair`, those files go (and their catalog rows): the sync then fetches anew
    what the locks want."""
    differ = rehash_all(wh, records)
    names = {w.filename for w in wanted}
    for name, problem in list(differ.items()):
        if problem == NOT_CATALOGUED and name not in names:
            log.warning("%s: %s (neither indexed nor touched)", name, problem)
            del differ[name]
    for w in wanted:
        rec = records.get(w.filename or "")
        if w.filename and w.filename not in differ and rec and rec.sha256 not in w.hashes:
            differ[w.filename] = f"sha256:{rec.sha256} is not a hash the lock allows"
    for name, problem in sorted(differ.items()):
        log.warning("%s: %s", name, problem)
        if options.repair:
            wh.file(name).unlink(missing_ok=True)
            wh.file(name).with_name(name + METADATA_SUFFIX).unlink(missing_ok=True)
            records.pop(name, None)
    return differ


def _hold(differ: dict[str, str], wanted: list[Wanted]) -> list[Failure]:
    """Without --repair, what differs is reported (exit 5) and left alone, not replaced."""
    return [
        Failure(
            name,
            f"{name}: {problem} (sync --verify --repair downloads it again)",
            5,
            _project(name),
        )
        for name, problem in sorted(differ.items())
    ]


def _project(filename: str) -> str | None:
    parsed = parse_filename(filename)
    return None if parsed is None else str(parsed.name)


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop where installed (a dependency off Windows): a download loop
    measured ~20% faster on it than on asyncio's own (bench/mirror-results.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover (Windows)
        done, result = asyncio.run(_terminable(coro))
    else:
        done, result = uvloop.run(_terminable(coro))
    if not done:
        from wheelhouse.errors import Terminated

        raise Terminated()
    return result  # type: ignore[return-value]


async def _terminable(coro: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
    """Run `coro`; SIGTERM cancels it as Ctrl-C does (its clean-up runs: locks released),
    then (False, None). In the main thread only, where signals arrive."""
    import signal
    import threading

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def on_term() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    installed = threading.current_thread() is threading.main_thread()
    if installed:
        previous = signal.getsignal(signal.SIGTERM)
        try:
            loop.add_signal_handler(signal.SIGTERM, on_term)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
            installed = False
    try:
        return True, await coro
    except asyncio.CancelledError:
        if not terminated:
            raise
        return False, None
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, previous)


def _ignore(event: SyncEvent) -> None:
    pass


async def _sync_all(
    wh: Wheelhouse,
    wanted: list[Wanted],
    config: IndexConfig,
    options: SyncOptions,
    progress: Progress | None,
    transport: httpx.AsyncBaseTransport | None,
    records: dict[str, FileRecord],
    on_file: Callable[[FileRecord], Awaitable[None]] | None = None,
) -> _Run:
    jobs = max(1, options.jobs)

    def new_client() -> httpx.AsyncClient:
        from wheelhouse.net.http import make_client

        return make_client(
            config,
            transport=transport,
            max_connections=jobs,
            timeout=options.timeout,
            http2=options.http2,
        )

    run = _Run(
        wh,
        new_client,
        config,
        progress or _ignore,
        records,
        max_file_size=options.max_file_size,
        on_file=on_file,
    )
    run.emit(SyncEvent("plan", count=len(wanted)))
    gate = asyncio.Semaphore(jobs)

    async def one(w: Wanted) -> None:
        async with gate:
            await _one(run, w)

    try:
        await asyncio.gather(*(one(w) for w in wanted))
    finally:
        if run.opened is not None:
            await run.opened.aclose()
    return run


def _present(run: _Run, w: Wanted) -> str | None:
    """The name of a verified file in the wheelhouse that satisfies `w`, if any."""
    if w.filename:
        rec = verified(run.wheelhouse, run.records, w.filename)
        if rec is not None:
            run.records[w.filename] = rec
            if rec.sha256 in w.hashes:
                return w.filename
        return None
    # A hash-only pin lists the hashes of all its files: one already here must also be
    # installable on this lock's target (another target may have brought it).
    for name, rec in sorted(run.records.items()):
        if (
            rec.sha256 in w.hashes
            and (not name.endswith(".whl") or wheel_fits(name, w.tags))
            and rec.matches_stat(run.wheelhouse.file(name))
        ):
            return name
    return None


async def _one(run: _Run, w: Wanted) -> None:
    try:
        name = _present(run, w)
        if name is not None:
            await _handed_on(run, name)
            run.skipped.append(name)
            run.emit(SyncEvent("skip", name))
            return
        item = await _locate(run, w)
        if _present(run, _exact(w, item)):  # found by hash: maybe here from an earlier run
            await _handed_on(run, item.filename)
            run.skipped.append(item.filename)
            run.emit(SyncEvent("skip", item.filename))
            return
        run.emit(SyncEvent("start", item.filename, total=item.size))
        await _download(run, item)
        await _handed_on(run, item.filename)
        run.downloaded.append(item.filename)
        run.emit(SyncEvent("done", item.filename))
    except WheelhouseError as exc:
        run.failed.append(Failure(w.describe, str(exc), exc.exit_code, w.project))
        run.emit(SyncEvent("failed", w.describe, message=str(exc)))
    except OSError as exc:
        run.failed.append(Failure(w.describe, f"{w.describe}: {exc}", 1, w.project))
        run.emit(SyncEvent("failed", w.describe, message=str(exc)))


async def _handed_on(run: _Run, name: str) -> None:
    if run.on_file is not None:
        await run.on_file(run.records[name])


def _exact(w: Wanted, item: Download) -> Wanted:
    return Wanted(w.project, w.version, (item.sha256,), w.tags, item.filename, item.url)


async def _locate(run: _Run, w: Wanted) -> Download:
    """Where to fetch `w` from: the lock's URL, else the configured sources by hash."""
    if w.url and w.filename:
        return Download(w.filename, w.url, w.sha256, w.upload_time, w.requires_python, size=w.size)
    files = await run.reader().project_files(w.project)
    if w.filename:
        files = [f for f in files if f.filename == w.filename]
    found = w.choose(await _hash_local(files, w.version))
    if found is not None:
        return Download(
            found.filename,
            found.url,
            found.sha256 or w.sha256,
            iso_utc(found.upload_time) or w.upload_time,
            found.requires_python or w.requires_python,
        )
    sources = [*run.config.indexes(), *run.config.find_links]
    where = ", ".join(redact_url(u) for u in sources) or "no index configured"
    # the index answered, but has nothing the lock vouches for: the lock and the index disagree
    raise IntegrityError(
        f"{w.describe}: no file of {w.project}=={w.version} with the locked hashes on {where}"
    )


async def _hash_local(files: Sequence[DistFile], version: str) -> list[DistFile]:
    """The files, those of a local find-links folder (listed without hashes) hashed where
    they are of the locked version, so that the lock's hashes can pick among them."""
    out = []
    for f in files:
        path = local_path(f.url) if f.sha256 is None else None
        parsed = parse_filename(f.filename) if path is not None else None
        if path is not None and parsed is not None and parsed.has_version(version):
            digest = await asyncio.to_thread(sha256_file, path)
            f = replace(f, hashes={**f.hashes, "sha256": digest})
        out.append(f)
    return out


_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)")


async def _download(run: _Run, item: Download) -> None:
    """Fetch one file into place; resume its part, retry, and verify before renaming."""
    from wheelhouse.net.http import with_retries

    wh = run.wheelhouse
    source = local_path(item.url)
    if source is not None:
        await _copy_local(run, item, source)
        return
    for fresh_try in (False, True):
        with AtomicFile(wh.file(item.filename), part=wh.part(item.filename, item.sha256)) as out:
            resumed = out.size > 0  # bytes of an earlier run, or (below) of an earlier attempt
            if fresh_try:
                out.restart()

            async def attempt(out: AtomicFile = out) -> None:
                nonlocal resumed
                resumed = await _stream_into(run, item, out) or resumed

            await with_retries(
                f"downloading {item.filename}", item.url, run.config.retries, attempt
            )
            try:
                # fsynced here, in a thread, while the other downloads go on (the disk writes
                # back during the sync instead of all at the end); the directory, at the end
                await asyncio.to_thread(out.commit, item.sha256, item.filename)
            except IntegrityError:
                if resumed and not fresh_try:
                    log.info("%s: resumed bytes did not verify; downloading afresh", item.filename)
                    continue
                raise
        _record(run, item)
        return


def _record(run: _Run, item: Download) -> None:
    """The catalog's entry for a file just verified into files/."""
    run.records[item.filename] = record_for(
        run.wheelhouse.file(item.filename),
        item.sha256,
        upload_time=item.upload_time,
        requires_python=item.requires_python,
        origin=strip_credentials(item.url),
    )


async def _copy_local(run: _Run, item: Download, source: Path) -> None:
    """A file:// URL or a path (a local index or find-links folder): copied as a download
    is written, hashed on the way and renamed into files/ only once the hash matched."""
    try:
        size = source.stat().st_size if source.is_file() else -1
    except OSError:
        size = -1
    if size < 0:
        raise NetworkError(f"{item.filename}: no file at {redact_url(item.url)}")
    if item.size is not None and size != item.size:
        raise IntegrityError(
            f"{item.filename}: {redact_url(item.url)} has {size} bytes, the lock says {item.size}"
        )
    if item.size is None and size > run.max_file_size:
        raise _too_big(item, run.max_file_size)
    with AtomicFile(run.wheelhouse.file(item.filename)) as out, open(source, "rb") as f:
        run.emit(SyncEvent("bytes", item.filename, 0, size))
        # bounded reads off the event loop, so that other downloads go on meanwhile
        while chunk := await asyncio.to_thread(f.read, READ_LOCAL):
            out.write(chunk)
            if out.size > size:  # it grows while we copy: never read without end
                raise IntegrityError(f"{item.filename}: {source} changed while it was copied")
            run.nbytes += len(chunk)
            run.emit(SyncEvent("bytes", item.filename, len(chunk)))
        await asyncio.to_thread(out.commit, item.sha256, item.filename)
    _record(run, item)


READ_LOCAL = 1 << 20


async def _stream_into(run: _Run, item: Download, out: AtomicFile) -> bool:
    """One HTTP attempt: ask for the bytes after what `out` holds and append them, never
    more than the lock's size for the file (or the ceiling, where the lock has none).
    True if they were appended to bytes already there (a resume)."""
    from wheelhouse.net.http import BodyTooBig, body_chunks

    limit = item.size if item.size is not None else run.max_file_size
    for _ in range(2):
        headers = {"Accept-Encoding": "identity"}
        offset = out.size
        if offset:
            headers["Range"] = f"bytes={offset}-"
        async with run.client().stream("GET", item.url, headers=headers) as r:
            if r.status_code == 416 and offset:
                out.restart()  # the part is not a prefix of the file: start over
                continue
            r.raise_for_status()
            if r.status_code == 206:
                m = _CONTENT_RANGE.match(r.headers.get("content-range", ""))
                if not m or int(m.group(1)) != offset:
                    out.restart()
                    continue
            elif offset:
                out.restart()  # the server ignored Range and sends the whole file
                offset = 0
            total = _length(r.headers.get("content-length"))
            if total is not None and offset + total > limit:
                out.restart()
                raise _too_big(item, limit)
            run.emit(SyncEvent("bytes", item.filename, offset, total + offset if total else None))
            # Hashed and written on the event loop, a read (up to 1 MB) at a time: a thread hop
            # per batch cost more than it saved (both measured in bench/mirror-results.md).
            # Whatever arrived stays in the part file, also when cut off, for the Range resume.
            try:
                async for chunk in body_chunks(r, limit, item.filename, start=offset):
                    out.write(chunk)
                    run.nbytes += len(chunk)
                    run.emit(SyncEvent("bytes", item.filename, len(chunk)))
            except BodyTooBig:
                out.restart()  # what is past the size is not the file: keep nothing
                raise _too_big(item, limit) from None
            return offset > 0
    raise NetworkError(f"{item.filename}: the server answers Range requests inconsistently")


def _length(text: str | None) -> int | None:
    """Content-Length as a number (None where absent or not a plain number)."""
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 20 else None


def _too_big(item: Download, limit: int) -> WheelhouseError:
    if item.size is not None:
        return IntegrityError(
            f"{item.filename}: the server sends more than the {limit} bytes the lock gives; "
            "cut off there"
        )
    return NetworkError(
        f"{item.filename}: larger than {limit} bytes (the lock gives no size: raise "
        "--max-file-size if it is right)"
    )


class SyncFailed(WheelhouseError):
    """Some files could not be brought in; every failure is listed."""

    def __init__(self, report: SyncReport) -> None:
        lines = [f"{len(report.failed)} file(s) failed:"]
        lines += [f"  {f.message}" for f in report.failed]
        super().__init__("\n".join(lines))
        self.exit_code = report.exit_code

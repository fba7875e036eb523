"""`sync` and `prune` on a wheelhouse in object storage (az://), through the Storage interface.

Files are downloaded and verified in a local staging folder exactly as into a wheelhouse
folder (sync's own downloads: resumable parts, hashes checked before anything is renamed),
then uploaded: a blob under ``files/`` is committed only once the hash of the bytes sent
matched. Then the index is switched over in the order that never links to something
missing: project pages, the root pages, the catalog (``wheelhouse.json``); stale pages (and,
for prune, the removed files) go last. All of it under the storage's writer lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wheelhouse.errors import UsageError
from wheelhouse.files import atomic_write
from wheelhouse.mirror.catalog import (
    NOT_CATALOGUED,
    FileRecord,
    catalog_text,
    parse_catalog,
    render_sync_stamp,
)
from wheelhouse.mirror.static_index import (
    METADATA_BYTES,
    entries,
    is_page,
    project_of,
    render_tree,
    requires_python_of,
    with_wheel_metadata,
)
from wheelhouse.mirror.wanted import Wanted
from wheelhouse.model.filenames import wheel_fits
from wheelhouse.store import layout
from wheelhouse.store.layout import METADATA_SUFFIX, SYNC_STAMP, Wheelhouse
from wheelhouse.store.storage import LocalStorage, ObjectInfo, Storage, WriterLock, local_key

if TYPE_CHECKING:
    import httpx

    from wheelhouse.mirror.prune import PruneReport
    from wheelhouse.mirror.sync import Progress, SyncOptions, SyncReport
    from wheelhouse.net.pipconfig import IndexConfig

log = logging.getLogger("wheelhouse")
T = TypeVar("T")

FILES = f"{layout.FILES}/"  # key prefixes
SIMPLE = f"{layout.SIMPLE}/"
CATALOG = layout.CATALOG
CONTENT_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "index.json": "application/vnd.pypi.simple.v1+json",
}
CATALOG_TYPE = "application/json"


@dataclass(frozen=True)
class RemoteState:
    """What a wheelhouse in object storage holds, read once under the writer lock."""

    catalog: dict[str, FileRecord]  # as wheelhouse.json says
    present: dict[str, FileRecord]  # files there and committed, by name
    files: dict[str, ObjectInfo]  # everything under files/, by name
    pages: dict[str, ObjectInfo]  # everything under simple/, by path below it
    catalog_info: ObjectInfo | None

    def distribution_files(self) -> list[str]:
        return sorted(n for n in self.files if not n.endswith(METADATA_SUFFIX))


async def load_state(storage: Storage) -> RemoteState:
    fetched = await storage.read(CATALOG, max_bytes=layout.CATALOG_BYTES)
    catalog: dict[str, FileRecord] = {}
    if fetched is not None and fetched.data is not None:
        where = f"{storage.url}/{CATALOG}"
        try:
            text = fetched.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{where}: unreadable wheelhouse catalog ({exc})") from None
        catalog = parse_catalog(text, where)
    # only direct children of files/ and the index's own pages of simple/: anything deeper
    # (another wheelhouse nested there) is not this wheelhouse's to delete
    files = {
        i.key[len(FILES) :]: i
        for i in await storage.list_objects(FILES)
        if "/" not in i.key[len(FILES) :]
    }
    pages = {
        i.key[len(SIMPLE) :]: i
        for i in await storage.list_objects(SIMPLE)
        if is_page(i.key[len(SIMPLE) :])
    }
    present = {}
    for name, rec in catalog.items():
        info = files.get(name)
        if info is not None and info.size == rec.size and info.sha256 == rec.sha256:
            present[name] = rec
    for name, info in files.items():
        # committed by a sync that stopped before its catalog: its hash is in the blob
        if name in present or name.endswith(METADATA_SUFFIX) or info.sha256 is None:
            continue
        if project_of(name) is not None:
            log.info("%s: committed, not yet catalogued; adopted", name)
            rec = FileRecord(name, info.sha256, info.size, int(info.modified * 1e9))
            present[name] = await _with_stored_metadata(storage, rec, files)
    return RemoteState(catalog, present, files, pages, fetched.info if fetched else None)


async def _with_stored_metadata(
    storage: Storage, rec: FileRecord, files: Mapping[str, ObjectInfo]
) -> FileRecord:
    """An adopted wheel's record with what its committed PEP 658 file says."""
    info = files.get(rec.filename + METADATA_SUFFIX)
    if info is None or info.sha256 is None:
        return rec
    got = await storage.read(info.key, max_bytes=METADATA_BYTES)
    if got is None or got.data is None or hashlib.sha256(got.data).hexdigest() != info.sha256:
        return rec
    return replace(rec, metadata_sha256=info.sha256, requires_python=requires_python_of(got.data))


def present_for(records: Mapping[str, FileRecord], w: Wanted) -> str | None:
    """The name of a file in `records` that satisfies `w`, if any."""
    if w.filename:
        rec = records.get(w.filename)
        return w.filename if rec is not None and rec.sha256 in w.hashes else None
    for name, rec in sorted(records.items()):
        if rec.sha256 in w.hashes and (not name.endswith(".whl") or wheel_fits(name, w.tags)):
            return name
    return None


async def gather_bounded(jobs: int, work: Iterable[Awaitable[T]]) -> list[T]:
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(aw: Awaitable[T]) -> T:
        async with gate:
            return await aw

    return await asyncio.gather(*(one(aw) for aw in work))


# -- publishing: files, then pages, then the catalog ------------------------------------


async def upload_staged(
    storage: Storage, staging: Wheelhouse, rec: FileRecord, held: WriterLock
) -> FileRecord:
    """One verified file of the staging folder into files/ (its PEP 658 metadata first);
    its record, knowing the metadata. The staged copy goes once committed."""
    path = staging.file(rec.filename)
    rec, meta = await asyncio.to_thread(with_wheel_metadata, rec, path)
    meta_name = rec.filename + METADATA_SUFFIX
    if meta is not None and rec.metadata_sha256 is not None:
        meta_path = staging.files / meta_name
        await asyncio.to_thread(atomic_write, meta_path, meta)
        held.check()
        await storage.put_file(FILES + meta_name, meta_path, rec.metadata_sha256)
    held.check()
    await storage.put_file(FILES + rec.filename, path, rec.sha256)
    for p in (path, staging.files / meta_name):
        p.unlink(missing_ok=True)
    return rec


async def publish_index(
    storage: Storage,
    state: RemoteState,
    records: Mapping[str, FileRecord],
    held: WriterLock,
    jobs: int,
) -> None:
    """Switch the index over to `records`: changed project pages, then the root pages, then
    the catalog; stale pages and orphaned metadata last."""
    pages = render_tree(entries(records))
    stale = _unsure_pages(state)
    before = render_tree(entries(state.catalog)) if state.catalog_info is not None else {}
    changed = [
        rel
        for rel in pages
        if rel in stale or rel not in state.pages or before.get(rel) != pages[rel]
    ]

    async def put(rel: str) -> None:
        ctype = CONTENT_TYPES.get(rel.rsplit("/", 1)[-1])
        held.check()  # before each write: a stalled writer's lease may have run out
        await storage.put_bytes(SIMPLE + rel, pages[rel].encode("utf-8"), content_type=ctype)

    await gather_bounded(jobs, (put(rel) for rel in changed if "/" in rel))
    held.check()
    for rel in changed:
        if "/" not in rel:
            await put(rel)
    text = catalog_text(records)
    if state.catalog_info is None or text != catalog_text(state.catalog):
        held.check()
        await storage.put_bytes(CATALOG, text.encode("utf-8"), content_type=CATALOG_TYPE)
    gone = [SIMPLE + rel for rel in state.pages if rel not in pages]
    gone += [
        FILES + name
        for name in state.files
        if name.endswith(METADATA_SUFFIX) and name[: -len(METADATA_SUFFIX)] not in state.files
    ]
    await delete_checked(storage, gone, held, jobs)
    log.debug("index: %d pages written, %d removed", len(changed), len(gone))


async def delete_checked(
    storage: Storage, keys: Sequence[str], held: WriterLock, jobs: int
) -> None:
    """Delete `keys`, the writer lock checked before each delete is sent."""

    async def one(key: str) -> None:
        held.check()
        await storage.delete(key)

    await gather_bounded(jobs, (one(key) for key in keys))


def _unsure_pages(state: RemoteState) -> set[str]:
    """Pages written after the last catalog (by a sync that stopped before it): their text
    is not known from the catalog, so they are written again. (Last-Modified has whole
    seconds: one written in the catalog's own second counts as the catalog's.)"""
    if state.catalog_info is None:
        return set(state.pages)
    since = state.catalog_info.modified
    return {rel for rel, info in state.pages.items() if info.modified > since}


# -- sync ------------------------------------------------------------------------------


def staging_for(storage: Storage) -> Path:
    """The local folder a sync into `storage` verifies its downloads in (and resumes from):
    one per account and URL."""
    from wheelhouse.net.cache import default_cache_dir

    return default_cache_dir() / "staging" / local_key(storage)


def sync_to_storage(
    storage: Storage,
    wanted: list[Wanted],
    *,
    config: IndexConfig,
    options: SyncOptions,
    staging: Path,
    progress: Progress | None,
    transport: httpx.AsyncBaseTransport | None,
) -> SyncReport:
    """`sync` into object storage (see the module's docstring); `staging` is the local folder
    downloads are verified in (and resume from)."""
    from wheelhouse.mirror.sync import run_loop

    if options.build_with or options.advisories:
        raise UsageError(
            f"{storage.url}: --build-with and --advisories need a wheelhouse folder for now "
            "(sync into a folder, or leave them out)"
        )
    return run_loop(
        _closing(storage, _sync(storage, wanted, config, options, staging, progress, transport))
    )


async def _closing(storage: Storage, work: Awaitable[T]) -> T:
    try:
        return await work
    finally:
        await storage.close()


async def _sync(
    storage: Storage,
    wanted: list[Wanted],
    config: IndexConfig,
    options: SyncOptions,
    staging: Path,
    progress: Progress | None,
    transport: httpx.AsyncBaseTransport | None,
) -> SyncReport:
    from wheelhouse.mirror.sync import SyncEvent, SyncReport, _hold, _sync_all

    started = time.monotonic()
    emit = progress or (lambda event: None)
    # and a local lock on the staging folder: two runs here for the same target never share
    # half-written files (the lease alone does not keep them apart once it is lost)
    async with storage.writer_lock() as held, LocalStorage(staging).writer_lock():
        state = await load_state(storage)
        records = dict(state.present)
        differ: dict[str, str] = {}
        if options.verify:
            differ = await _verify(storage, state, records, wanted, options, held)
        held_back = [] if options.repair else _hold(differ, wanted)
        skipped, todo = [], []
        emit(SyncEvent("plan", count=len(wanted)))
        for w in wanted:
            name = present_for(records, w)
            if name is not None and name not in differ:
                skipped.append(name)
                emit(SyncEvent("skip", name))
            elif name is None and (options.repair or w.filename not in differ):
                todo.append(w)  # (what differs is left as it is without --repair)
        wh = Wheelhouse(staging)
        wh.create()
        staged: set[str] = set()

        async def up(rec: FileRecord) -> None:
            """Each file uploaded as soon as it is verified, while others download."""
            records[rec.filename] = await upload_staged(storage, wh, rec, held)
            staged.add(rec.filename)

        def relay(event: SyncEvent) -> None:  # the plan above counts every file
            if event.kind != "plan":
                emit(event)

        run = await _sync_all(wh, todo, config, options, relay, transport, {}, on_file=up)
        run.failed += held_back
        held.check()
        await publish_index(storage, state, records, held, options.jobs)
        if not run.failed:  # when it finished, for `serve --ready-max-age`
            stamp = render_sync_stamp(datetime.now(timezone.utc), len(records))
            held.check()
            await storage.put_bytes(SYNC_STAMP, stamp.encode(), content_type=CATALOG_TYPE)
    emit(SyncEvent("index", count=len(records)))
    return SyncReport(
        wheelhouse=storage.url,
        verified=len(state.distribution_files()) if options.verify else 0,
        differed=tuple(sorted(differ)),
        downloaded=tuple(sorted(staged)),
        skipped=tuple(sorted(set(skipped))),
        failed=tuple(sorted(run.failed, key=lambda f: f.what)),
        bytes_downloaded=run.nbytes,
        seconds=time.monotonic() - started,
        indexed_files=len(records),
    )


async def _verify(
    storage: Storage,
    state: RemoteState,
    records: dict[str, FileRecord],
    wanted: Sequence[Wanted],
    options: SyncOptions,
    held: WriterLock,
) -> dict[str, str]:
    """Every file hashed again as it is in the storage: what differs from the catalog or
    the locks, by name. With `repair`, those blobs go (and their records)."""
    differ: dict[str, str] = {}

    async def check(name: str) -> None:
        rec = state.catalog.get(name)
        digest = await hash_object(storage, FILES + name)
        if rec is None:
            if name not in {w.filename for w in wanted}:
                log.warning("%s: %s (neither indexed nor touched)", name, NOT_CATALOGUED)
                return
            differ[name] = NOT_CATALOGUED
        elif digest != rec.sha256:
            differ[name] = f"sha256:{digest} differs from the catalog's sha256:{rec.sha256}"
        elif rec.metadata_sha256:
            meta = await hash_object(storage, FILES + name + METADATA_SUFFIX)
            if meta != rec.metadata_sha256:
                differ[name] = "its PEP 658 .metadata file differs from the catalog"

    await gather_bounded(options.jobs, (check(n) for n in state.distribution_files()))
    for name in sorted(set(state.catalog) - set(state.files)):
        differ[name] = "in the catalog, missing from files/"
    for w in wanted:
        rec = records.get(w.filename or "")
        if w.filename and w.filename not in differ and rec and rec.sha256 not in w.hashes:
            differ[w.filename] = f"sha256:{rec.sha256} is not a hash the lock allows"
    for name, problem in sorted(differ.items()):
        log.warning("%s: %s", name, problem)
        if options.repair:
            await delete_checked(storage, [FILES + name + METADATA_SUFFIX, FILES + name], held, 1)
            records.pop(name, None)
    return differ


async def hash_object(storage: Storage, key: str) -> str | None:
    """The sha256 of an object's bytes as the storage has them (None where it has none)."""
    stream = await storage.open_read(key)
    if stream is None:
        return None
    h = hashlib.sha256()
    try:
        async for chunk in stream.chunks():
            h.update(chunk)
    finally:
        await stream.aclose()
    return h.hexdigest()


# -- prune -----------------------------------------------------------------------------


def prune_storage(storage: Storage, wanted: Sequence[Wanted], *, dry_run: bool) -> PruneReport:
    from wheelhouse.mirror.sync import run_loop

    return run_loop(_closing(storage, _prune(storage, wanted, dry_run)))


async def _prune(storage: Storage, wanted: Sequence[Wanted], dry_run: bool) -> PruneReport:
    from wheelhouse.mirror.prune import PruneReport, referenced

    async with storage.writer_lock() as held:
        state = await load_state(storage)
        if not state.files and state.catalog_info is None:
            raise UsageError(f"{storage.url} is not a wheelhouse (no files/, no catalog)")
        present = state.distribution_files()
        needed = referenced(wanted, dict(state.present))
        doomed = [name for name in present if name not in needed]
        freed = sum(state.files[name].size for name in doomed)
        if not dry_run:
            kept = {n: r for n, r in state.present.items() if n not in doomed}
            held.check()
            # the index first: it never links to a file about to go
            await publish_index(storage, state, kept, held, jobs=8)
            for name in doomed:
                await delete_checked(
                    storage, [FILES + name + METADATA_SUFFIX, FILES + name], held, 1
                )
    return PruneReport(
        removed=tuple(doomed),
        kept=tuple(n for n in present if n in needed),
        bytes_freed=freed,
        dry_run=dry_run,
    )

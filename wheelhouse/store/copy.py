"""A local copy of a wheelhouse kept in object storage, for the commands that read one
(install, verify, image-env): ``files/`` and the catalog, each file checked on arrival
against the sha256 its blob was committed with, then used as any wheelhouse folder is.

The copy lives in the cache and is brought up to date on each use: files whose blob is
unchanged (same ETag) and whose local copy is untouched (same size and mtime) are not
fetched again; files gone from the storage go from the copy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Collection
from pathlib import Path

from wheelhouse.errors import IntegrityError
from wheelhouse.files import AtomicFile, atomic_write
from wheelhouse.store import layout
from wheelhouse.store.layout import Wheelhouse, writer_lock
from wheelhouse.store.storage import ObjectInfo, Storage, is_remote, local_key, open_wheelhouse

log = logging.getLogger("wheelhouse")
FILES = f"{layout.FILES}/"
STATE = ".copied.json"  # name -> [etag, size, mtime_ns] of what was copied
JOBS = 8


def local_wheelhouse(
    spec: Path | str, cache_dir: Path, sha256s: Collection[str] | None = None
) -> Path:
    """The folder to read `spec` from: itself for a folder; for az://, an up-to-date local
    copy under `cache_dir`: of every file, or of those with one of `sha256s` (a lock's
    hashes) and the wheels the catalog says were built from them."""
    if not is_remote(spec):
        return Path(spec)
    storage = open_wheelhouse(spec)
    dest = cache_dir / "copies" / local_key(storage)  # one per account and URL
    with writer_lock(Wheelhouse(dest)):  # two runs here never share half-written files
        asyncio.run(_copy_closing(storage, dest, sha256s))
    return dest


async def _copy_closing(storage: Storage, dest: Path, sha256s: Collection[str] | None) -> None:
    try:
        await copy_wheelhouse(storage, dest, sha256s)
    finally:
        await storage.close()


async def copy_wheelhouse(
    storage: Storage, dest: Path, sha256s: Collection[str] | None = None
) -> None:
    """Make `dest` hold what `storage` holds under files/ (or those of `sha256s`, see
    `local_wheelhouse`), and its catalog."""
    wh = Wheelhouse(dest)
    wh.files.mkdir(parents=True, exist_ok=True)
    state = _load_state(dest)
    catalog = await storage.read(layout.CATALOG, max_bytes=layout.CATALOG_BYTES)
    listing = {
        i.key[len(FILES) :]: i
        for i in await storage.list_objects(FILES)
        if "/" not in i.key[len(FILES) :]  # not what is nested deeper
    }
    if sha256s is not None:
        wanted = set(sha256s) | _built_from(catalog.data if catalog else None, set(sha256s))
        listing_wanted = {n: i for n, i in listing.items() if i.sha256 in wanted}
    else:
        listing_wanted = listing
    gate = asyncio.Semaphore(JOBS)
    # what was copied before and is still there stays known, chosen this time or not
    fresh: dict[str, list[object]] = {n: k for n, k in state.items() if n in listing}

    async def one(name: str, info: ObjectInfo) -> None:
        if info.sha256 is None:
            log.warning("%s/%s%s: no sha256 of its own; not copied", storage.url, FILES, name)
            return
        path = wh.file(name)
        if _unchanged(path, info, state.get(name)):
            fresh[name] = state[name]
            return
        async with gate:
            await _fetch(storage, FILES + name, info, path)
        st = path.stat()
        fresh[name] = [info.etag, st.st_size, st.st_mtime_ns]

    await asyncio.gather(*(one(n, i) for n, i in listing_wanted.items()))
    for entry in os.scandir(wh.files):
        if entry.is_file() and entry.name not in listing and not entry.name.startswith("."):
            os.unlink(entry.path)
    if catalog is not None and catalog.data is not None:
        atomic_write(wh.catalog_path, catalog.data)
    else:
        wh.catalog_path.unlink(missing_ok=True)
    atomic_write(dest / STATE, json.dumps(fresh, sort_keys=True))
    log.info("%s: local copy in %s (%d files)", storage.url, dest, len(fresh))


async def _fetch(storage: Storage, key: str, info: ObjectInfo, path: Path) -> None:
    stream = await storage.open_read(key)
    if stream is None:
        raise IntegrityError(f"{storage.url}/{key}: listed, then gone")
    try:
        with AtomicFile(path) as out:
            async for chunk in stream.chunks():
                out.write(chunk)
                if out.size > info.size:
                    raise IntegrityError(f"{storage.url}/{key}: longer than listed")
            await asyncio.to_thread(out.commit, info.sha256, f"{storage.url}/{key}")
    finally:
        await stream.aclose()


def _built_from(catalog: bytes | None, sdists: set[str]) -> set[str]:
    """The sha256 of each wheel the catalog says was built from one of `sdists`."""
    try:
        rows = json.loads(catalog or b"{}").get("files", [])
        return {
            str(r["sha256"])
            for r in rows
            if isinstance(r, dict)
            and isinstance(r.get("built"), dict)
            and r["built"].get("sdist_sha256") in sdists
        }
    except (ValueError, AttributeError, KeyError, TypeError, RecursionError):
        return set()  # read as the catalog it is by the command itself, with its own error


def _unchanged(path: Path, info: ObjectInfo, known: list[object] | None) -> bool:
    if known is None or known[0] != info.etag:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return [st.st_size, st.st_mtime_ns] == known[1:]


def _load_state(dest: Path) -> dict[str, list[object]]:
    try:
        data = json.loads((dest / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

"""`sync --advisories URL`: keep a copy of an OSV export (PyPI's advisories, a zip of JSON
records) in the wheelhouse, so that `audit --wheelhouse` runs where the network is closed.

The URL is the caller's (an argument, or the organisation's configured source in
`WHEELHOUSE_ADVISORIES_URL`): nothing is hard-coded. An unchanged export is not fetched again
(conditional request); a new one replaces the old only once it reads as an OSV export.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse.errors import IntegrityError, NetworkError, UsageError
from wheelhouse.files import AtomicFile, atomic_write, sha256_file
from wheelhouse.model.osv import AdvisoryDB, ExportSource, read_export
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.net.urls import local_path, redact_url, strip_credentials
from wheelhouse.store.layout import Wheelhouse

if TYPE_CHECKING:
    import httpx

ENV_URL = "WHEELHOUSE_ADVISORIES_URL"
MAX_EXPORT = 4 * 1024**3  # bytes; PyPI's whole export was about 40 MB in 2025


@dataclass(frozen=True)
class AdvisoriesKept:
    """What `sync --advisories` did: the export now kept and whether it changed."""

    url: str
    changed: bool
    records: int
    size: int
    newest: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "changed": self.changed,
            "records": self.records,
            "size": self.size,
            "newest": self.newest.isoformat() if self.newest else None,
        }


def configured_url(given: str | None) -> str | None:
    """The export to keep: the argument, else the organisation's configured source."""
    return given or os.environ.get(ENV_URL) or None


def keep_advisories(
    wh: Wheelhouse,
    url: str,
    config: IndexConfig,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AdvisoriesKept:
    """Fetch the export at `url` into the wheelhouse (the caller holds its writer lock)."""
    previous = ExportSource.read(wh.advisories_source)
    same = previous is not None and previous.url == strip_credentials(url)
    new = wh.advisories / ".osv-pypi.zip.new"
    wh.advisories.mkdir(parents=True, exist_ok=True)
    try:
        headers = _fetch(url, new, config, transport, previous if same else None)
        if headers is None and previous is not None and wh.advisories_export.is_file():
            db = read_export(wh.advisories_export)  # not modified since the last fetch
            return AdvisoriesKept(previous.url, False, db.records, previous.size, db.newest)
        db = _checked(new, url)  # a broken export never replaces a good one
        source = ExportSource(
            url=strip_credentials(url),
            fetched=datetime.now(timezone.utc),
            sha256=sha256_file(new),
            size=new.stat().st_size,
            last_modified=(headers or {}).get("last-modified"),
            etag=(headers or {}).get("etag"),
        )
        os.replace(new, wh.advisories_export)
        atomic_write(wh.advisories_source, source.to_json())
    finally:
        new.unlink(missing_ok=True)
    return AdvisoriesKept(source.url, True, db.records, source.size, db.newest)


def _checked(path: Path, url: str) -> AdvisoryDB:
    try:
        return read_export(path)
    except UsageError as exc:
        raise IntegrityError(f"{redact_url(url)} is not an OSV export: {exc}") from exc


def _fetch(
    url: str,
    dest: Path,
    config: IndexConfig,
    transport: httpx.AsyncBaseTransport | None,
    previous: ExportSource | None,
) -> dict[str, str] | None:
    """Bring the export to `dest`; its response headers, or None when it was not modified."""
    path = local_path(url)
    if path is not None:
        if not path.is_file():
            raise UsageError(f"--advisories: no file at {path}")
        if path.stat().st_size > MAX_EXPORT:
            raise UsageError(f"--advisories: {path} is larger than {MAX_EXPORT} bytes")
        shutil.copyfile(path, dest)
        return {}
    return asyncio.run(_download(url, dest, config, transport, previous))


async def _download(
    url: str,
    dest: Path,
    config: IndexConfig,
    transport: httpx.AsyncBaseTransport | None,
    previous: ExportSource | None,
) -> dict[str, str] | None:
    from wheelhouse.net.http import body_chunks, make_client, with_retries

    headers = {"Accept-Encoding": "identity"}
    if previous is not None and previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous is not None and previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    async with make_client(config, transport=transport, http2=False) as client:

        async def attempt() -> dict[str, str] | None:
            with AtomicFile(dest) as out:
                async with client.stream("GET", url, headers=headers) as r:
                    if r.status_code == 304:
                        return None
                    r.raise_for_status()
                    # decoded a bounded piece at a time, should the server compress anyway
                    async for chunk in body_chunks(r, MAX_EXPORT + 1, redact_url(url)):
                        out.write(chunk)
                        if out.size > MAX_EXPORT:
                            raise NetworkError(
                                f"{redact_url(url)}: more than {MAX_EXPORT} bytes; "
                                "not an advisory export"
                            )
                out.commit(durable=False)
                return {k.lower(): v for k, v in r.headers.items()}

        return await with_retries("downloading the advisories", url, config.retries, attempt)

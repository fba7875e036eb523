"""Reading package indexes over the network: a project's files across every index and
find-links location, through the one HTTP client and the one cache, concurrently.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.errors import NetworkError
from wheelhouse.net.cache import Cache, CachedPage
from wheelhouse.net.http import read_bounded, with_retries
from wheelhouse.net.pages import (
    ACCEPT,
    JSON_TYPE,
    DistFile,
    parse_find_links_dir,
    parse_html_page,
    parse_json_page,
)
from wheelhouse.net.urls import local_path, redact_url

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("wheelhouse")
DEFAULT_MAX_AGE = 600.0
PAGE_BYTES = 64 << 20  # the biggest project pages (thousands of files) are a few MB


def _max_age(headers: httpx.Headers) -> float:
    cc = headers.get("Cache-Control", "")
    if "no-store" in cc or "no-cache" in cc:
        return 0.0
    m = re.search(r"max-age=([0-9]{1,9})", cc)
    return float(m.group(1)) if m else DEFAULT_MAX_AGE


class IndexReader:
    """Lists a project's files across indexes and find-links, with the cache in front."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        cache: Cache,
        indexes: Sequence[str],
        find_links: Sequence[str] = (),
        retries: int = 5,
        offline: bool = False,
        refresh: bool = False,
    ) -> None:
        self.client = client
        self.cache = cache
        self.indexes = [i.rstrip("/") + "/" for i in indexes]
        self.find_links = list(find_links)
        self.retries = retries
        self.offline = offline
        self.refresh = refresh  # ask the index even for pages still fresh (an upgrade)
        self._find_links_files: list[DistFile] | None = None
        self._pages: dict[str, asyncio.Task[list[DistFile]]] = {}
        self.missing: set[NormalizedName] = set()

    async def project_files(self, name: str) -> list[DistFile]:
        """Every file of a project on every index and find-links location (index order)."""
        key = canonicalize_name(name)
        task = self._pages.get(key)
        if task is None:
            task = asyncio.ensure_future(self._project_files(key))
            self._pages[key] = task
        return await task

    async def _project_files(self, name: NormalizedName) -> list[DistFile]:
        pages = await asyncio.gather(*(self._index_page(i, name) for i in self.indexes))
        files = [f for page in pages if page for f in page]
        files += [f for f in await self._all_find_links() if f.name == name]
        if not any(page is not None for page in pages) and not files:
            self.missing.add(name)
        return files

    async def _all_find_links(self) -> list[DistFile]:
        if self._find_links_files is None:
            found: list[DistFile] = []
            for loc in self.find_links:
                path = local_path(loc)
                if path is not None:
                    if path.is_dir():
                        found += parse_find_links_dir(path)
                    elif path.is_file():
                        found += parse_html_page(path.read_bytes(), path.as_uri(), loc)
                    else:
                        log.warning("find-links location %s does not exist; ignored", loc)
                else:
                    page = await self._fetch(loc, loc)
                    if page is not None:
                        found += parse_html_page(page.body, loc, loc)
            self._find_links_files = found
        return self._find_links_files

    async def _index_page(self, index: str, name: NormalizedName) -> list[DistFile] | None:
        """One index's page for a project; None when the index does not know it."""
        url = urljoin(index, f"{name}/")
        path = local_path(index)
        if path is not None:
            folder = path / name
            for candidate in (folder / "index.json", folder / "index.html"):
                if candidate.is_file():
                    body = candidate.read_bytes()
                    parse = parse_json_page if candidate.suffix == ".json" else parse_html_page
                    return parse(body, folder.as_uri() + "/", index.rstrip("/"))
            return None
        page = await self._fetch(url, index)
        if page is None:
            return None
        # Big projects list thousands of files: keep the parsed list, keyed by the body.
        key = f"parsed:{url}:{hashlib.sha256(page.body).hexdigest()}"
        parsed = self.cache.get_value(key)
        if isinstance(parsed, list):
            return parsed
        if page.content_type.startswith(JSON_TYPE):
            files = parse_json_page(page.body, url, redact_url(index.rstrip("/")))
        else:
            files = parse_html_page(page.body, url, redact_url(index.rstrip("/")))
        self.cache.put_value(key, files, expire=7 * 86400)
        return files

    async def _fetch(self, url: str, index: str) -> CachedPage | None:
        cached = self.cache.get_page(url)
        if cached is not None and (self.offline or (cached.fresh() and not self.refresh)):
            log.debug("%s: from the cache", redact_url(url))
            return cached if cached.body else None
        if self.offline:
            raise NetworkError(
                f"offline: {redact_url(url)} is not in the cache "
                "(lock once with the index reachable)"
            )
        headers = {"Accept": ACCEPT}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified

        async def get() -> tuple[httpx.Response, bytes]:
            async with self.client.stream("GET", url, headers=headers) as response:
                if response.status_code not in (200, 304, 404, 410):
                    response.raise_for_status()
                if response.status_code != 200:
                    return response, b""
                what = f"index page {redact_url(url)}"
                return response, await read_bounded(response, PAGE_BYTES, what)

        try:
            response, body = await with_retries(
                f"reading index {redact_url(index)}", url, self.retries, get
            )
        except NetworkError:
            if cached is not None:
                log.warning("index unreachable; using the cached page of %s", redact_url(url))
                return cached if cached.body else None
            raise
        now = time.time()
        log.debug(
            "%s: %s",
            redact_url(url),
            "unchanged (revalidated)" if response.status_code == 304 else response.status_code,
        )
        if response.status_code == 304 and cached is not None:
            page = CachedPage(
                url,
                cached.body,
                cached.content_type,
                cached.etag,
                cached.last_modified,
                now,
                _max_age(response.headers),
            )
        elif response.status_code in (404, 410):
            page = CachedPage(url, b"", "", None, None, now, _max_age(response.headers))
        else:
            page = CachedPage(
                url,
                body,
                response.headers.get("Content-Type", "text/html"),
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
                now,
                _max_age(response.headers),
            )
        self.cache.put_page(page)
        return page if page.body else None

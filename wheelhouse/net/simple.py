"""Reading package indexes: PEP 503 HTML, PEP 691 JSON, PEP 658/714 metadata, find-links.

Parsing is pure (`parse_json_page`, `parse_html_page`, `parse_find_links_dir`); `IndexReader`
fetches pages through the one HTTP client and the one cache, concurrently.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.errors import NetworkError
from wheelhouse.model.filenames import parse_filename
from wheelhouse.net.cache import Cache, CachedPage
from wheelhouse.net.http import redact_url, strip_credentials, with_retries

if TYPE_CHECKING:  # httpx costs ~50 ms to import: only where a request is made
    import httpx

log = logging.getLogger("wheelhouse")
T = TypeVar("T")
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
DEFAULT_MAX_AGE = 600.0


@dataclass(frozen=True)
class DistFile:
    """One file of a project as an index lists it."""

    filename: str
    url: str  # absolute; credentials removed
    name: NormalizedName
    version: Version
    hashes: Mapping[str, str] = field(default_factory=dict)
    requires_python: str | None = None
    upload_time: datetime | None = None
    yanked: bool = False
    size: int | None = None
    metadata_hashes: Mapping[str, str] | None = None  # PEP 658: present when not None
    index: str = ""
    tags: frozenset[Tag] = frozenset()  # wheels only

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")


def dist_file(filename: str, url: str, index: str, **attrs: Any) -> DistFile | None:
    """A DistFile from a filename, or None for names that are not wheels or sdists."""
    parsed = parse_filename(filename)
    if parsed is None:
        return None
    return DistFile(
        filename, url, parsed.name, parsed.version, index=index, tags=parsed.tags, **attrs
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _split_fragment(url: str) -> tuple[str, dict[str, str]]:
    base, _, frag = url.partition("#")
    hashes = {}
    m = re.match(r"^(sha256|sha384|sha512|md5)=([0-9a-fA-F]+)$", frag)
    if m:
        hashes[m.group(1)] = m.group(2).lower()
    return base, hashes


def _meta_attr(value: Any) -> Mapping[str, str] | None:
    """PEP 658/714 attribute: a hash mapping, True (present, no hash), or absent."""
    if value is None or value is False:
        return None
    if isinstance(value, Mapping):
        return {str(k): str(v).lower() for k, v in value.items() if isinstance(v, str)}
    if isinstance(value, str):
        m = re.match(r"^(\w+)=([0-9a-fA-F]+)$", value)
        return {m.group(1): m.group(2).lower()} if m else {}
    return {}


def parse_json_page(body: bytes, page_url: str, index: str) -> list[DistFile]:
    """A PEP 691 project page; anything malformed is a NetworkError naming the field."""
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise _malformed(page_url, f"not JSON ({exc})") from None
    files = data.get("files", []) if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise _malformed(page_url, "'files' is not a list")
    out = []
    for i, entry in enumerate(files):
        df = _json_file(entry, page_url, index, f"files[{i}]")
        if df is not None:
            out.append(df)
    return out


def _json_file(f: Any, page_url: str, index: str, where: str) -> DistFile | None:
    if not isinstance(f, dict):
        raise _malformed(page_url, f"{where} is not a table")
    filename, href = (
        _field(f, "filename", str, page_url, where),
        _field(f, "url", str, page_url, where),
    )
    if not filename or not href:
        raise _malformed(page_url, f"{where} has no filename or url")
    hashes = _field(f, "hashes", dict, page_url, where) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()):
        raise _malformed(page_url, f"{where}.hashes is not a table of strings")
    size = _field(f, "size", int, page_url, where)
    try:
        base, frag_hashes = _split_fragment(urljoin(page_url, href))
    except ValueError as exc:  # e.g. an invalid IPv6 address in the URL
        raise _malformed(page_url, f"{where}.url {href!r}: {exc}") from None
    meta = f.get("core-metadata", f.get("data-dist-info-metadata", f.get("dist-info-metadata")))
    return dist_file(
        filename,
        strip_credentials(base),
        index,
        hashes={k: v.lower() for k, v in hashes.items()} or frag_hashes,
        requires_python=_field(f, "requires-python", str, page_url, where) or None,
        upload_time=_parse_time(f.get("upload-time")),
        yanked=bool(f.get("yanked", False)),
        size=None if isinstance(size, bool) else size,
        metadata_hashes=_meta_attr(meta),
    )


def _field(f: dict[str, Any], key: str, kind: type[T], page_url: str, where: str) -> T | None:
    """`f[key]` if absent, null or of `kind`; else a NetworkError naming the field."""
    value = f.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise _malformed(page_url, f"{where}.{key} is {type(value).__name__}, not {kind.__name__}")


def _malformed(page_url: str, problem: str) -> NetworkError:
    return NetworkError(f"malformed index page {redact_url(page_url)}: {problem}")


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[dict[str, str | None], str]] = []
        self.base: str | None = None
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        if tag == "a":
            self._current = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.links.append((self._current, "".join(self._text).strip()))
            self._current = None


def parse_html_page(body: bytes, page_url: str, index: str) -> list[DistFile]:
    """A PEP 503 project page (also a find-links HTML page)."""
    parser = _LinkParser()
    try:
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
        base_url = urljoin(page_url, parser.base) if parser.base else page_url
    except (AssertionError, ValueError) as exc:  # html.parser's few hard stops; a bad <base>
        raise _malformed(page_url, f"unreadable HTML ({exc})") from None
    out = []
    for attrs, _text in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        try:
            base, hashes = _split_fragment(urljoin(base_url, href))
            filename = unquote(urlsplit(base).path.rsplit("/", 1)[-1])
        except ValueError:
            log.debug("%s: skipping the unreadable link %r", redact_url(page_url), href)
            continue  # as pip does with a link it cannot read
        meta = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        df = dist_file(
            filename,
            strip_credentials(base),
            index,
            hashes=hashes,
            requires_python=attrs.get("data-requires-python") or None,
            yanked="data-yanked" in attrs,
            metadata_hashes=_meta_attr(meta if meta is not None else None)
            if ("data-core-metadata" in attrs or "data-dist-info-metadata" in attrs)
            else None,
        )
        if df is not None:
            out.append(df)
    return out


def parse_find_links_dir(directory: Path) -> list[DistFile]:
    """Files in a local find-links folder (hashes unknown until read)."""
    out = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if entry.is_file():
            df = dist_file(
                entry.name,
                Path(entry.path).absolute().as_uri(),
                str(directory),
                size=entry.stat().st_size,
            )
            if df is not None:
                out.append(df)
    return out


def local_path(url: str) -> Path | None:
    """The path of a file:// URL or a plain path; None for http(s)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(url2pathname(unquote(parts.path)))
    if parts.scheme in ("",) or re.match(r"^[A-Za-z]$", parts.scheme):
        return Path(url)
    return None


def _max_age(headers: httpx.Headers) -> float:
    cc = headers.get("Cache-Control", "")
    if "no-store" in cc or "no-cache" in cc:
        return 0.0
    m = re.search(r"max-age=(\d+)", cc)
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
    ) -> None:
        self.client = client
        self.cache = cache
        self.indexes = [i.rstrip("/") + "/" for i in indexes]
        self.find_links = list(find_links)
        self.retries = retries
        self.offline = offline
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
        if cached is not None and (self.offline or cached.fresh()):
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

        async def get() -> httpx.Response:
            response = await self.client.get(url, headers=headers)
            if response.status_code not in (200, 304, 404, 410):
                response.raise_for_status()
            return response

        try:
            response = await with_retries(
                f"reading index {redact_url(index)}", url, self.retries, get
            )
        except NetworkError:
            if cached is not None:
                log.warning("index unreachable; using the cached page of %s", redact_url(url))
                return cached if cached.body else None
            raise
        now = time.time()
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
                response.content,
                response.headers.get("Content-Type", "text/html"),
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
                now,
                _max_age(response.headers),
            )
        self.cache.put_page(page)
        return page if page.body else None


def parse_cutoff(text: str) -> datetime:
    """`--exclude-newer`: an ISO date (the whole day counts) or date-time; UTC if no zone."""
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            day = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
            return day.replace(hour=23, minute=59, second=59, microsecond=999999)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            from wheelhouse.errors import UsageError

            raise UsageError(f"--exclude-newer: not a date {text!r} (use YYYY-MM-DD)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))

"""Package index pages as data: the PEP 503/691 content types, and pages (PEP 503 HTML,
PEP 691 JSON, PEP 658/714 metadata attributes, find-links folders) parsed into DistFiles.

Pure: bytes in, values out. Whatever the page holds, the answer is a list of DistFiles or a
NetworkError naming the page and the field, never another exception.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

from packaging.tags import Tag
from packaging.utils import NormalizedName
from packaging.version import Version

from wheelhouse.errors import NetworkError
from wheelhouse.model.filenames import parse_filename
from wheelhouse.net.urls import redact_url, strip_credentials

log = logging.getLogger("wheelhouse")
T = TypeVar("T")
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
# what a client asks for: JSON, then the HTML API, then any HTML page
ACCEPT = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01"


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
    except RecursionError:
        raise _malformed(page_url, "not JSON (nested too deeply)") from None
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

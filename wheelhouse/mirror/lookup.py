"""A tiny PEP 691/503 project-page reader: finds a locked file by its hash on an index.

Only for locks that carry hashes but no URLs. Kept small and apart: the resolver's full
index reader (wheelhouse.net.simple) can replace it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

import httpx

from wheelhouse.errors import NetworkError
from wheelhouse.model.lock import wheel_fits
from wheelhouse.net.http import redact_url, with_retries

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


@dataclass(frozen=True)
class Link:
    filename: str
    url: str  # absolute, as the index gave it
    sha256: str | None
    upload_time: str | None = None
    requires_python: str | None = None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[dict[str, str | None], str]] = []
        self._attrs: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._attrs is not None:
            self.found.append((self._attrs, self._text.strip()))
            self._attrs = None


def parse_page(body: bytes, content_type: str, base_url: str) -> list[Link]:
    """The files of one project page, JSON or HTML."""
    if content_type.split(";")[0].strip() == JSON_TYPE:
        doc = json.loads(body)
        return [
            Link(
                filename=f["filename"],
                url=urljoin(base_url, f["url"]),
                sha256=f.get("hashes", {}).get("sha256"),
                upload_time=f.get("upload-time"),
                requires_python=f.get("requires-python"),
            )
            for f in doc.get("files", [])
        ]
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    links = []
    for attrs, text in parser.found:
        href = attrs.get("href")
        if not href:
            continue
        url, frag = urldefrag(urljoin(base_url, href))
        sha = frag[len("sha256=") :] if frag.startswith("sha256=") else None
        name = url.rsplit("/", 1)[-1] or text
        links.append(Link(name, url, sha, None, attrs.get("data-requires-python")))
    return links


async def project_links(
    client: httpx.AsyncClient, index_url: str, project: str, retries: int
) -> list[Link]:
    url = f"{index_url.rstrip('/')}/{project}/"

    async def fetch() -> httpx.Response:
        r = await client.get(url, headers={"Accept": ACCEPT})
        if r.status_code != 404:
            r.raise_for_status()
        return r

    r = await with_retries(f"reading the index page of {project}", url, retries, fetch)
    if r.status_code == 404:
        return []
    try:
        return parse_page(r.content, r.headers.get("content-type", ""), str(r.url))
    except (ValueError, KeyError, TypeError) as exc:
        raise NetworkError(f"malformed index page {redact_url(url)}: {exc}") from exc


def choose(links: list[Link], hashes: tuple[str, ...], tags: tuple[str, ...]) -> Link | None:
    """The locked file among `links`: its hash is locked; the best-tagged wheel wins."""
    ok = [link for link in links if link.sha256 and link.sha256.lower() in hashes]
    rank = {t: i for i, t in enumerate(tags)}

    def key(link: Link) -> tuple[int, str]:
        if link.filename.endswith(".whl") and wheel_fits(link.filename, tags):
            tagpart = link.filename[:-4].split("-")[-3:]
            best = min(
                rank.get(f"{py}-{abi}-{plat}", len(rank))
                for py in tagpart[0].split(".")
                for abi in tagpart[1].split(".")
                for plat in tagpart[2].split(".")
            )
            return (best, link.filename)
        return (len(rank) + 1, link.filename)

    return min(ok, key=key) if ok else None

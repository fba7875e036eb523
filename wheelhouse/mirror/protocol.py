"""The HTTP semantics `serve` needs, as pure functions: PEP 691 content negotiation,
single byte ranges and If-None-Match (RFC 9110)."""

from __future__ import annotations

import re

from wheelhouse.net.pages import HTML_TYPE, JSON_TYPE

_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
_FORMATS = {
    JSON_TYPE: ("json", JSON_TYPE),
    "application/vnd.pypi.simple.latest+json": ("json", JSON_TYPE),
    HTML_TYPE: ("html", HTML_TYPE),
    "application/vnd.pypi.simple.latest+html": ("html", HTML_TYPE),
    "text/html": ("html", "text/html; charset=utf-8"),
}
_PREFERENCE = [JSON_TYPE, HTML_TYPE, "text/html"]


def negotiate(accept: str | None, fmt: str | None) -> tuple[str, str] | None:
    """PEP 691: (page kind, content type) for an Accept header or ?format=; None means 406."""
    if fmt:
        return _FORMATS.get(fmt.strip())
    if not accept or not accept.strip():
        return _FORMATS["text/html"]
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media, q = fields[0].lower(), 1.0
        for param in fields[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media in ("*/*", "application/*"):
            media = "text/html" if media == "*/*" else JSON_TYPE
        if media not in _FORMATS:
            continue
        kind_type = _FORMATS[media][1]
        rank = next(i for i, t in enumerate(_PREFERENCE) if _FORMATS[t][1] == kind_type)
        cand = (q, -rank, media)
        if best is None or cand > best:
            best = cand
    return _FORMATS[best[2]] if best else None


def _number(digits: str) -> int:
    """A position in a Range header: more than 18 digits is past any file (and int() of
    thousands of digits is slow, past 4300 an error)."""
    return int(digits) if len(digits) <= 18 else 1 << 62


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(start, end inclusive) of a single byte range; None = whole file; False = unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multiple or malformed ranges: serve the whole file
    if not m.group(1):
        n = _number(m.group(2))
        return (max(size - n, 0), size - 1) if n and size else False
    start = _number(m.group(1))
    if m.group(2) and _number(m.group(2)) < start:
        return None  # "5-2" is not a valid range: RFC 9110 says ignore the header
    end = min(_number(m.group(2)), size - 1) if m.group(2) else size - 1
    if start >= size:
        return False
    return start, end


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match: `*`, or any listed tag equal to ours (weak comparison, as RFC 9110)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags

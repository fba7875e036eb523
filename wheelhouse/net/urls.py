"""URLs: as shown to people (never with a password or token), and local ones as paths."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname


def redact_url(url: str) -> str:
    """The URL without any password or token (keeps the user name, as pip does)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    shown = f"{user}:****@{host}" if ":" in userinfo else f"****@{host}"
    return urlunsplit(parts._replace(netloc=shown))


def strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def local_path(url: str) -> Path | None:
    """The path of a file:// URL or a plain path; None for http(s)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(url2pathname(unquote(parts.path)))
    if parts.scheme in ("",) or re.match(r"^[A-Za-z]$", parts.scheme):
        return Path(url)
    return None

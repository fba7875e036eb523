"""URLs: as shown to people (never with a password or token), and local ones as paths."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

from wheelhouse.errors import UsageError


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


def check_source(url: str, what: str, *, folder: bool = True, must_exist: bool = True) -> str:
    """An index URL or find-links location as given: http(s):// with a host, file:// or a
    local path (a folder for an index; an existing one when `must_exist`). `what` names
    where it was given, for the message."""
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise UsageError(f"{what} holds a control character")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises for a port that is no number)
    except ValueError as exc:
        raise UsageError(f"{what} is not a URL ({exc})") from None
    shown = redact_url(url)
    if parts.scheme in ("http", "https"):
        if not host:
            raise UsageError(f"{what} {shown!r} has no host name")
        if " " in url:
            raise UsageError(f"{what} {shown!r} holds a space")
        return url
    path = local_path(url)
    if path is None:
        raise UsageError(
            f"{what} {shown!r}: {parts.scheme}:// is not supported (http, https or file)"
        )
    if must_exist and not (path.is_dir() or (path.is_file() and not folder)):
        kind = "folder" if folder else "folder or file"
        raise UsageError(
            f"{what} {shown!r} is neither a URL (http://, https://, file://) nor an existing {kind}"
        )
    return url

"""Where a wheelhouse is, as the user names it: a folder or az://CONTAINER/PREFIX, parsed
strictly, and the keys inside it. Cheap to import (no asyncio, no SDK): the command line
checks --wheelhouse with it; `open_wheelhouse` imports the storage it opens.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse.errors import UsageError

if TYPE_CHECKING:
    from wheelhouse.store.storage import Storage

_BAD_SEGMENTS = {"", ".", ".."}


def check_key(key: str) -> str:
    """A key that names a place inside the wheelhouse and nothing else."""
    if (
        not key
        or len(key) > 1024
        or key.startswith("/")
        or "\\" in key
        or "\0" in key
        or any(seg in _BAD_SEGMENTS for seg in key.split("/"))
    ):
        raise UsageError(f"refusing unsafe wheelhouse key {key!r}")
    return key


_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
AZ_SCHEME = "az://"


@dataclass(frozen=True)
class BlobLocation:
    """az://CONTAINER/PREFIX, parsed: the prefix has no leading or trailing slash."""

    container: str
    prefix: str

    @property
    def url(self) -> str:
        return f"{AZ_SCHEME}{self.container}/{self.prefix}".rstrip("/")


def parse_blob_url(spec: str) -> BlobLocation:
    """az://CONTAINER[/PREFIX], strictly: a bad one is a UsageError naming it."""
    if not spec.startswith(AZ_SCHEME):
        raise UsageError(f"{spec!r} is not an az://CONTAINER/PREFIX URL")
    rest = spec[len(AZ_SCHEME) :]
    container, _, prefix = rest.partition("/")
    prefix = prefix.rstrip("/")
    if not _CONTAINER.fullmatch(container):
        raise UsageError(
            f"{spec}: {container!r} is not an Azure container name (3-63 characters: "
            "lowercase letters, digits, single hyphens between them)"
        )
    if prefix and (
        len(prefix) > 512
        or any(seg in _BAD_SEGMENTS for seg in prefix.split("/"))
        or any(c in prefix for c in "\\\0?#")
        or any(ord(c) < 0x20 for c in prefix)
    ):
        raise UsageError(f"{spec}: {prefix!r} is not a usable blob prefix")
    check_not_nested(spec, prefix.split("/")[-1] if prefix else "")
    return BlobLocation(container, prefix)


NESTED_NAMES = ("files", "simple")  # a wheelhouse's own folders


def check_not_nested(spec: object, last: str) -> None:
    """Refuse a wheelhouse whose last path component is "files" or "simple": inside another
    wheelhouse's files/ or simple/, the other's sync and prune would delete it."""
    if last in NESTED_NAMES:
        raise UsageError(
            f"{spec}: a wheelhouse cannot be named {last!r} (it would be inside another "
            f"wheelhouse's {last}/ folder, which that wheelhouse's sync and prune clean up): "
            "choose another name"
        )


def check_not_mistyped(spec: str) -> None:
    """Refuse what starts like an az:// URL and is not one ("az:/wheels", "az:wheels"): as a
    folder it would silently be a new local folder named "az:"."""
    if spec[:3].lower() == "az:" and not spec.startswith(AZ_SCHEME):
        raise UsageError(
            f"{spec!r} is not an az:// URL: give az://CONTAINER/PREFIX (two slashes), or "
            "./az:... for a folder of that name"
        )


def is_remote(spec: str | Path) -> bool:
    """True for an object storage URL (az://), False for a folder (a mistyped az:// URL is
    a UsageError, never a folder)."""
    if not isinstance(spec, str):
        return False
    check_not_mistyped(spec)
    return spec.startswith(AZ_SCHEME)


def open_wheelhouse(
    spec: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    retries: int = 3,
    connection_timeout: float = 10,
) -> Storage:
    """The storage `spec` names: a folder path, or az://CONTAINER/PREFIX (Azure Blob Storage,
    credentials from `env`, default os.environ: see `wheelhouse.store.blob`). Connects on
    first use, not here. `retries` and `connection_timeout` (seconds) bound how long one
    request to object storage may take: a server answering from what it holds wants them
    short, a sync rides out more."""
    from wheelhouse.store.storage import LocalStorage

    if isinstance(spec, Path):
        return LocalStorage(spec)
    check_not_mistyped(spec)
    if "://" in spec:
        if not spec.startswith(AZ_SCHEME):
            scheme = spec.split("://", 1)[0]
            raise UsageError(f"{spec}: unknown wheelhouse scheme {scheme!r} (a folder or az://)")
        from wheelhouse.store.blob import BlobStorage

        return BlobStorage(
            parse_blob_url(spec),
            env=os.environ if env is None else env,
            retries=retries,
            connection_timeout=connection_timeout,
        )
    if not spec.strip():
        raise UsageError("an empty wheelhouse path")
    return LocalStorage(Path(spec))

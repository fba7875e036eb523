"""The one persistent cache (diskcache) for index pages and metadata.

Pages are kept with their validators (ETag, Last-Modified) and freshness (Cache-Control
max-age), so a warm lock asks nothing of the network while pages are fresh and asks only
"changed?" after; metadata is keyed by the file's hash and never expires.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    env = os.environ.get("WHEELHOUSE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wheelhouse"


@dataclass(frozen=True)
class CachedPage:
    url: str
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    stored_at: float
    max_age: float

    def fresh(self, now: float | None = None) -> bool:
        return ((now or time.time()) - self.stored_at) < self.max_age


class Cache:
    """A thin typed face over diskcache; `None` directory means no cache at all."""

    def __init__(self, directory: Path | None) -> None:
        self._dc: Any = None
        if directory is not None:
            import diskcache

            directory.mkdir(parents=True, exist_ok=True)
            self._dc = diskcache.Cache(str(directory / f"v{CACHE_VERSION}"), size_limit=2**31)

    def get_page(self, url: str) -> CachedPage | None:
        if self._dc is None:
            return None
        value = self._dc.get(("page", url))
        return value if isinstance(value, CachedPage) else None

    def put_page(self, page: CachedPage) -> None:
        if self._dc is not None:
            self._dc.set(("page", page.url), page)

    def get_metadata(self, key: str) -> bytes | None:
        if self._dc is None:
            return None
        value = self._dc.get(("meta", key))
        return value if isinstance(value, bytes) else None

    def put_metadata(self, key: str, data: bytes) -> None:
        if self._dc is not None:
            self._dc.set(("meta", key), data)

    def get_value(self, key: str) -> Any:
        return None if self._dc is None else self._dc.get(("value", key))

    def put_value(self, key: str, value: Any, expire: float | None = None) -> None:
        if self._dc is not None:
            self._dc.set(("value", key), value, expire=expire)

    def close(self) -> None:
        if self._dc is not None:
            self._dc.close()

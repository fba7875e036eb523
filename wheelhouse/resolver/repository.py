"""The Repository the resolver reads, backed by real indexes: pages and metadata fetched
concurrently on an event loop in a background thread, so resolution (synchronous, inside
resolvelib) finds what it asks for already on its way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import httpx
from packaging.utils import NormalizedName

from wheelhouse.net.cache import Cache
from wheelhouse.net.http import make_client, redact_url
from wheelhouse.net.metadata import CoreMetadata, MetadataFetcher
from wheelhouse.net.pages import DistFile
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.net.reader import IndexReader

log = logging.getLogger("wheelhouse")
T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a daemon thread; `run` blocks on a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="wheelhouse-io"
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class IndexRepository:
    """Repository over the configured indexes and find-links."""

    def __init__(
        self,
        config: IndexConfig,
        cache: Cache,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        offline: bool = False,
        refresh: bool = False,
    ) -> None:
        self.config = config
        self.cache = cache
        self._loop = LoopThread()
        self._client: httpx.AsyncClient = self._loop.run(self._make_client(transport))
        self.reader = IndexReader(
            self._client,
            cache,
            config.indexes(),
            config.find_links,
            retries=config.retries,
            offline=offline,
            refresh=refresh,
        )
        self.fetcher = MetadataFetcher(self._client, cache, retries=config.retries, offline=offline)
        self._meta: dict[str, asyncio.Task[CoreMetadata]] = {}
        self._prefetched: set[NormalizedName] = set()
        self._whole: dict[str, bytes] = {}
        self.lock_builds: dict[str, Any] = {}  # sdist URL -> resolver.builds.LockBuild

    async def _make_client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        return make_client(self.config, transport=transport, max_connections=24)

    # -- Repository protocol ---------------------------------------------------------
    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        return self._loop.run(self.reader.project_files(name))

    def metadata(self, file: DistFile) -> CoreMetadata:
        return self._loop.run(self._metadata(file))

    def exists(self, name: NormalizedName) -> bool:
        self.files(name)
        return name not in self.reader.missing

    def sources(self) -> list[str]:
        return [redact_url(u) for u in [*self.reader.indexes, *self.reader.find_links]]

    def prefetch(
        self,
        names: Iterable[NormalizedName],
        choose: Callable[[Sequence[DistFile]], DistFile | None],
    ) -> None:
        for name in set(names) - self._prefetched:
            self._prefetched.add(name)  # once per name: the resolver asks again and again
            self._loop.submit(self._prefetch(name, choose))

    def warm(self, files: Sequence[DistFile]) -> None:
        for f in files:
            if f.url not in self._meta:
                self._loop.submit(self._warm(f))

    def download(self, file: DistFile) -> bytes:
        """A whole file (an sdist to read or build, a build requirement), hash-checked;
        each fetched once per lock."""
        if file.url not in self._whole:
            self._whole[file.url] = self._loop.run(self.fetcher.whole(file))
        return self._whole[file.url]

    # -- internals -------------------------------------------------------------------
    async def _warm(self, file: DistFile) -> None:
        try:
            await self._metadata(file)
        except Exception as exc:  # whoever asks for it later gets the error itself
            log.debug("reading ahead the metadata of %s failed: %s", file.filename, exc)

    async def _metadata(self, file: DistFile) -> CoreMetadata:
        task = self._meta.get(file.url)
        if task is None:
            task = asyncio.ensure_future(self.fetcher.fetch(file))
            self._meta[file.url] = task
        return await task

    async def _prefetch(
        self, name: NormalizedName, choose: Callable[[Sequence[DistFile]], DistFile | None]
    ) -> None:
        try:
            files = await self.reader.project_files(name)
            best = choose(files)
            if best is not None:
                await self._metadata(best)
        except Exception as exc:
            log.debug("prefetch of %s failed: %s", name, exc)

    def close(self) -> None:
        self._loop.run(self._shutdown())
        self._loop.close()
        self.cache.close()

    async def _shutdown(self) -> None:
        """Cancel what is still in flight (prefetches the resolution did not need) and wait
        for it to end, then close the client: a loop closed with tasks pending leaves
        "Task was destroyed but it is pending!" at exit."""
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()

"""A wheelhouse in Azure Blob Storage: the `Storage` of az://CONTAINER/PREFIX.

Credentials come from the environment, never from the command line, and are never shown:
``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT_URL`` with azure-identity's
DefaultAzureCredential (``pip install 'wheelhouse[azure-identity]'``).

How the promises of `wheelhouse.store.storage` are kept here:

- `put_file` stages the file's blocks under the blob's name (uncommitted blocks are not a
  blob: nothing is visible) and commits the block list only when the sha256 of every byte
  sent matched; the hash is kept in the blob's metadata (``sha256``). A block's ID names its
  index and its own sha256, so an interrupted upload resumes: blocks already staged with
  that ID are not sent again. Small files go in one Put Blob, after their hash matched.
- `put_bytes` is one Put Blob: readers see the old blob or the new one.
- `writer_lock` is a lease on ``PREFIX/.wheelhouse-lock`` for `lease_seconds` (15-60),
  renewed while held: a killed writer's lease expires and the next one takes it.

The SDK (azure-storage-blob, its aio client on aiohttp) is imported on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from wheelhouse.errors import IntegrityError, NetworkError, UsageError, WheelhouseError
from wheelhouse.store.layout import LOCK_WAIT, WriterBusy, busy
from wheelhouse.store.storage import (
    LOCK_KEY,
    MAX_LISTED,
    BlobLocation,
    Fetched,
    ObjectInfo,
    Stream,
    WriterLock,
    check_key,
)

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobServiceClient, ContainerClient, StorageStreamDownloader

log = logging.getLogger("wheelhouse")

CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_URL = "AZURE_STORAGE_ACCOUNT_URL"
BLOCK = 4 << 20  # bytes a staged block holds (and the most a ranged read buffers)
SINGLE_PUT = 4 << 20  # files up to this size go in one Put Blob
LEASE_SECONDS = 60  # Azure allows 15 to 60 (or infinite, which a killed writer would keep)
SHA256_META = "sha256"


def _read_hashed(path: Path, limit: int) -> tuple[bytes, str]:
    """A small file's bytes (at most `limit` + 1) and their sha256, off the event loop."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return data, hashlib.sha256(data).hexdigest()


def _read_block(f: BinaryIO, whole: Any) -> tuple[bytes, str]:
    """The next block of `f`, added to the `whole` hash, and the block's own sha256."""
    chunk = f.read(BLOCK)
    whole.update(chunk)
    return chunk, hashlib.sha256(chunk).hexdigest()


def _code(exc: BaseException) -> str:
    """The storage service's error code ("ContainerNotFound"), or ""."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


class _Lease:
    """The writer lock while held. `check` fails once the lease may have run out: a renewal
    failed (`lost`), or none succeeded for the lease's duration less a safety margin (a
    paused process, a stalled event loop: the renewer did not run, and another writer may
    hold the lock by now). `renewed` is when (`clock`, monotonic) the last acquire or renewal
    that succeeded was sent."""

    def __init__(
        self, where: str, lease_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.where = where
        self.lease_seconds = lease_seconds
        self.lost: str | None = None
        self._clock = clock
        self.renewed = clock()

    @property
    def margin(self) -> float:
        """Seconds before the lease's end at which it no longer counts as held: time for
        the request about to be sent to arrive (and for clocks to differ)."""
        return max(5.0, self.lease_seconds / 6)

    def now(self) -> float:
        return self._clock()

    def renewed_now(self, sent: float | None = None) -> None:
        self.renewed = self._clock() if sent is None else sent

    def check(self) -> None:
        if self.lost is not None:
            raise WriterBusy(
                f"{self.where}: lost the writer lock ({self.lost}); stopped, nothing more written"
            )
        idle = self._clock() - self.renewed
        if idle > self.lease_seconds - self.margin:
            self.lost = f"its {self.lease_seconds:.0f} s lease was not renewed for {idle:.0f} s"
            raise WriterBusy(
                f"{self.where}: lost the writer lock ({self.lost}; another writer may hold "
                "it now); stopped, nothing more written"
            )


class _BlobStream:
    """A ranged download; `translate` turns the SDK's errors mid-stream into ours."""

    def __init__(
        self,
        info: ObjectInfo,
        start: int,
        length: int,
        body: StorageStreamDownloader[bytes] | None = None,
        translate: Callable[[BaseException], WheelhouseError] | None = None,
    ) -> None:
        self.info = info
        self.start = start
        self.length = length
        self._body = body
        self._translate = translate

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._body is None:
            return
        from azure.core.exceptions import AzureError

        try:
            async for chunk in self._body.chunks():
                yield chunk
        except AzureError as exc:
            if self._translate is None:
                raise
            raise self._translate(exc) from None

    async def aclose(self) -> None:
        self._body = None


class BlobStorage:
    """az://CONTAINER/PREFIX as a Storage (see the module's docstring)."""

    def __init__(
        self,
        location: BlobLocation,
        *,
        env: Mapping[str, str],
        lease_seconds: int = LEASE_SECONDS,
        retries: int = 3,
        connection_timeout: float = 10,
    ) -> None:
        self.location = location
        self._connection_string = env.get(CONNECTION_STRING) or None
        self._account_url = env.get(ACCOUNT_URL) or None
        if self._connection_string is None and self._account_url is None:
            raise UsageError(
                f"{location.url}: set {CONNECTION_STRING}, or {ACCOUNT_URL} (with "
                "azure-identity's credentials), for the storage account"
            )
        if not 15 <= lease_seconds <= 60:
            raise UsageError(f"a blob lease lasts 15 to 60 seconds, not {lease_seconds}")
        self.lease_seconds = lease_seconds
        self._retries = retries
        self._connection_timeout = connection_timeout
        self._service: BlobServiceClient | None = None
        self._container: ContainerClient | None = None
        self._credential: Any = None

    def __repr__(self) -> str:  # never the connection string
        return f"BlobStorage({self.url!r})"

    @property
    def url(self) -> str:
        return self.location.url

    @property
    def local_root(self) -> Path | None:
        return None

    @property
    def account(self) -> str:
        """The account's blob endpoint and name (from the connection string or account URL,
        no request made): never the key or a token."""
        self._client()
        service = self._service
        assert service is not None
        return f"{str(service.url).rstrip('/')} ({service.account_name})"

    # -- connecting and errors ---------------------------------------------------------

    def _client(self) -> ContainerClient:
        if self._container is None:
            self._service = self._make_service()
            self._container = self._service.get_container_client(self.location.container)
        return self._container

    def _make_service(self) -> BlobServiceClient:
        from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry

        options: dict[str, Any] = {
            # the SDK waits 15 s, then 18 s, ... by default: too long for a command a person
            # waits on; ~1 s, ~3 s, ~5 s still rides out a short throttle
            "retry_policy": ExponentialRetry(
                initial_backoff=1, increment_base=2, retry_total=self._retries
            ),
            "connection_timeout": self._connection_timeout,
            "read_timeout": 60,
            "max_single_get_size": BLOCK,
            "max_chunk_get_size": BLOCK,
            "max_single_put_size": SINGLE_PUT,
            "max_block_size": BLOCK,
        }
        if self._connection_string is not None:
            try:
                return BlobServiceClient.from_connection_string(self._connection_string, **options)
            except ValueError:  # its text may quote the string: not shown
                raise UsageError(
                    f"{self.url}: {CONNECTION_STRING} is not a storage connection string"
                ) from None
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError:
            raise UsageError(
                f"{self.url}: {ACCOUNT_URL} needs azure-identity for its credentials "
                "(pip install 'wheelhouse[azure-identity]'), or set "
                f"{CONNECTION_STRING} instead"
            ) from None
        self._credential = DefaultAzureCredential()
        try:
            return BlobServiceClient(str(self._account_url), credential=self._credential, **options)
        except ValueError:
            raise UsageError(f"{self.url}: {ACCOUNT_URL} is not a storage account URL") from None

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.location.prefix}/{key}" if self.location.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.location.prefix) + 1 :] if self.location.prefix else name

    def where(self, key: str = "") -> str:
        return f"{self.url}/{key}" if key else self.url

    def translate(self, exc: BaseException, key: str = "") -> WheelhouseError:
        """An Azure SDK error as the project's own, naming the az:// URL and no secret."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = self.where(key)
        status = getattr(exc, "status_code", None)
        code = _code(exc)
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            return UsageError(
                f"{where}: the storage account refused the credentials "
                f"({code or status or 'no credential'}): check {CONNECTION_STRING}, or the "
                f"identity used with {ACCOUNT_URL}"
            )
        if code == "ContainerNotFound":
            return UsageError(
                f"{self.url}: the storage account has no container {self.location.container!r} "
                "(create it first)"
            )
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return NetworkError(f"{where}: the storage account could not be reached")
        if isinstance(exc, HttpResponseError):
            return NetworkError(f"{where}: the storage service answered {status} {code}".rstrip())
        return NetworkError(f"{where}: {type(exc).__name__}")

    @contextlib.contextmanager
    def _azure(self, key: str = "") -> Iterator[None]:
        from azure.core.exceptions import AzureError

        try:
            yield
        except AzureError as exc:
            raise self.translate(exc, key) from None

    def _info(self, key: str, props: Any) -> ObjectInfo:
        etag = str(props.etag or "")
        if not etag.startswith('"'):
            etag = f'"{etag}"'
        settings = getattr(props, "content_settings", None)
        meta = props.metadata or {}
        return ObjectInfo(
            key=key,
            size=int(props.size),
            etag=etag,
            modified=props.last_modified.timestamp() if props.last_modified else 0.0,
            sha256=meta.get(SHA256_META),
            content_type=getattr(settings, "content_type", None) or None,
        )

    # -- reading -----------------------------------------------------------------------

    async def stat(self, key: str) -> ObjectInfo | None:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._client().get_blob_client(self._name(key))
        with self._azure(key):
            try:
                return self._info(key, await blob.get_blob_properties())
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return None

    async def read(
        self, key: str, *, if_none_match: str | None = None, max_bytes: int = 64 << 20
    ) -> Fetched | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceNotFoundError,
            ResourceNotModifiedError,
        )

        blob = self._client().get_blob_client(self._name(key))
        conditions: dict[str, Any] = {}
        if if_none_match is not None:
            conditions = {"etag": if_none_match, "match_condition": MatchConditions.IfModified}
        with self._azure(key):
            try:
                body = await blob.download_blob(**conditions)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return None
            except (ResourceNotModifiedError, HttpResponseError) as exc:
                if exc.status_code != 304:
                    raise
                info = await self.stat(key)
                return Fetched(info, None) if info is not None else None
            info = self._info(key, body.properties)
            if info.size > max_bytes:
                raise IntegrityError(f"{self.where(key)}: over {max_bytes} bytes")
            parts = []
            got = 0
            async for chunk in body.chunks():
                got += len(chunk)
                if got > max_bytes:
                    raise IntegrityError(f"{self.where(key)}: over {max_bytes} bytes")
                parts.append(chunk)
        return Fetched(info, b"".join(parts))

    async def open_read(self, key: str, start: int = 0, length: int | None = None) -> Stream | None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        blob = self._client().get_blob_client(self._name(key))
        start = max(0, start)
        if length is not None and length <= 0:
            info = await self.stat(key)
            return None if info is None else _BlobStream(info, start, 0)
        with self._azure(key):
            try:
                body = await blob.download_blob(offset=start, length=length)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return None
            except HttpResponseError as exc:
                if exc.status_code != 416:  # a start at or past the end
                    raise
                info = await self.stat(key)
                return None if info is None else _BlobStream(info, info.size, 0)
        info = self._info(key, body.properties)
        # a ranged download's properties carry the range's size; the object's is in its
        # Content-Range ("bytes START-END/TOTAL")
        total = str(getattr(body.properties, "content_range", "") or "").rpartition("/")[2]
        if total.isdigit():
            info = dataclasses.replace(info, size=int(total))
        return _BlobStream(info, start, int(body.size), body, lambda exc: self.translate(exc, key))

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        if prefix:
            check_key(prefix.rstrip("/") or ".")
        base = f"{self.location.prefix}/" if self.location.prefix else ""
        full = base + prefix
        out: list[ObjectInfo] = []
        with self._azure(prefix):
            async for props in self._client().list_blobs(
                name_starts_with=full, include=["metadata"]
            ):
                key = self._key(props.name)
                if len(out) >= MAX_LISTED:
                    raise UsageError(f"{self.where(prefix)}: over {MAX_LISTED} blobs listed")
                if key != LOCK_KEY:
                    out.append(self._info(key, props))
        return sorted(out, key=lambda i: i.key)

    # -- writing -----------------------------------------------------------------------

    def _settings(self, content_type: str | None) -> Any:
        from azure.storage.blob import ContentSettings

        return ContentSettings(content_type=content_type or "application/octet-stream")

    async def put_file(
        self,
        key: str,
        path: Path,
        sha256: str,
        *,
        content_type: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        blob = self._client().get_blob_client(self._name(key))
        size = path.stat().st_size
        with self._azure(key):
            if size <= SINGLE_PUT:
                data, digest = await asyncio.to_thread(_read_hashed, path, SINGLE_PUT)
                self._check(key, digest, sha256)
                answer = await blob.upload_blob(
                    data,
                    overwrite=True,
                    metadata={SHA256_META: sha256},
                    content_settings=self._settings(content_type),
                    validate_content=True,
                )
                if progress is not None:
                    progress(len(data))
                size = len(data)
            else:
                answer, size = await self._put_blocks(
                    key, blob, path, sha256, content_type, progress
                )
        return self._written(key, size, answer, sha256, content_type)

    def _written(
        self, key: str, size: int, answer: Any, sha256: str | None, content_type: str | None
    ) -> ObjectInfo:
        """The info of a blob just written, from the service's answer (no second request)."""
        etag = str(answer.get("etag") or "")
        when = answer.get("last_modified")
        return ObjectInfo(
            key=key,
            size=size,
            etag=etag if etag.startswith('"') else f'"{etag}"',
            modified=when.timestamp() if when is not None else time.time(),
            sha256=sha256,
            content_type=content_type or "application/octet-stream",
        )

    def _check(self, key: str, got: str, expected: str) -> None:
        if got != expected:
            raise IntegrityError(
                f"{self.where(key)}: hash mismatch: expected sha256:{expected}, the bytes "
                f"sent have sha256:{got}; not committed"
            )

    async def _put_blocks(
        self,
        key: str,
        blob: Any,
        path: Path,
        sha256: str,
        content_type: str | None,
        progress: Callable[[int], None] | None,
    ) -> tuple[Any, int]:
        """Stage the file's blocks (skipping those an earlier try staged), then commit them
        if the whole hashes to `sha256`: the service's answer and the size."""
        staged = await self._uncommitted(blob)
        whole = hashlib.sha256()
        ids = []
        size = 0
        with open(path, "rb") as f:
            index = 0
            while True:
                chunk, digest = await asyncio.to_thread(_read_block, f, whole)
                if not chunk:
                    break
                size += len(chunk)
                block_id = f"{index:05d}-{digest[:48]}"
                if staged.get(block_id) != len(chunk):
                    await blob.stage_block(block_id, chunk, validate_content=True)
                else:
                    log.debug("%s: block %d already staged", self.where(key), index)
                if progress is not None:
                    progress(len(chunk))
                ids.append(block_id)
                index += 1
        self._check(key, whole.hexdigest(), sha256)
        answer = await blob.commit_block_list(
            ids, metadata={SHA256_META: sha256}, content_settings=self._settings(content_type)
        )
        return answer, size

    async def _uncommitted(self, blob: Any) -> dict[str, int]:
        """Blocks staged by an earlier, interrupted upload: ID -> size."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            _, uncommitted = await blob.get_block_list("uncommitted")
        except ResourceNotFoundError as exc:
            if _code(exc) == "ContainerNotFound":
                raise
            return {}
        return {str(b.id): int(b.size) for b in uncommitted}

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        blob = self._client().get_blob_client(self._name(key))
        with self._azure(key):
            answer = await blob.upload_blob(
                data,
                overwrite=True,
                content_settings=self._settings(content_type),
                validate_content=True,
            )
        return self._written(key, len(data), answer, None, content_type)

    async def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._client().get_blob_client(self._name(key))
        with self._azure(key):
            try:
                await blob.delete_blob()
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise

    # -- the writer lock ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def writer_lock(self, wait: float = LOCK_WAIT) -> AsyncIterator[WriterLock]:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.storage.blob.aio import BlobLeaseClient

        blob = self._client().get_blob_client(self._name(LOCK_KEY))
        where = self.where(LOCK_KEY)
        with self._azure(LOCK_KEY):
            try:
                await blob.upload_blob(b"", overwrite=False)
            except ResourceExistsError:
                pass  # there (and maybe leased): fine
            except HttpResponseError as exc:
                if exc.status_code != 412:  # leased by another writer right now
                    raise
            lease = BlobLeaseClient(blob)
            deadline = time.monotonic() + wait
            said = False
            while True:
                sent = time.monotonic()
                try:
                    await lease.acquire(lease_duration=self.lease_seconds)
                    break
                except HttpResponseError as exc:
                    if exc.status_code != 409:  # LeaseAlreadyPresent
                        raise
                if time.monotonic() >= deadline:
                    raise busy(
                        self.url,
                        wait,
                        f" (a lease on {where}; one left by a killed writer ends within "
                        f"{self.lease_seconds} s)",
                    )
                if not said:
                    log.info("waiting for another wheelhouse writer on %s", self.url)
                    said = True
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        held = _Lease(self.url, self.lease_seconds)
        held.renewed_now(sent)
        renewer = asyncio.create_task(self._renew(lease, held))
        try:
            yield held
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await lease.release()
            except Exception as exc:  # the lease ends by itself within lease_seconds
                log.warning(
                    "%s: could not release the writer lock (%s); it ends by itself within %d s",
                    where,
                    self.translate(exc, LOCK_KEY),
                    self.lease_seconds,
                )

    async def _renew(self, lease: Any, held: _Lease) -> None:
        from azure.core.exceptions import AzureError

        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            sent = held.now()
            try:
                await lease.renew()
                held.renewed_now(sent)
            except AzureError as exc:
                held.lost = str(self.translate(exc, LOCK_KEY))
                log.warning("%s", held.lost)
                return

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
        if self._credential is not None:
            await self._credential.close()
        self._service = self._container = self._credential = None

    async def __aenter__(self) -> BlobStorage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

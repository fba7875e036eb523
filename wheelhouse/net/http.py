"""The one HTTP seam: an httpx client built from pip's configuration, retries, redaction.

Nothing else in wheelhouse opens connections. Tests hand `make_client` a transport or point
the configuration at a local server.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import netrc
import os
import random
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from datetime import datetime, timezone
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from wheelhouse import __version__
from wheelhouse.errors import NetworkError
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.net.urls import redact_url, strip_credentials

__all__ = [
    "body_chunks",
    "make_client",
    "read_bounded",
    "redact_url",
    "strip_credentials",
    "with_retries",
]

log = logging.getLogger("wheelhouse")
T = TypeVar("T")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = f"wheelhouse/{__version__}"
READ_BYTES = 1 << 20


class IndexAuth(httpx.Auth):
    """Credentials for a host: from an index URL's user:password, else from ~/.netrc."""

    def __init__(self, urls: list[str]) -> None:
        self._creds: dict[str, tuple[str, str]] = {}
        for url in urls:
            parts = urlsplit(url)
            if parts.username is not None:
                self._creds[parts.hostname or ""] = (parts.username, parts.password or "")
        self._netrc: netrc.netrc | None = None
        path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
        if os.path.isfile(path):
            try:
                self._netrc = netrc.netrc(path)
            except (netrc.NetrcParseError, OSError) as exc:
                log.warning("ignoring unreadable netrc %s: %s", path, exc)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "Authorization" not in request.headers:
            host = request.url.host
            creds = self._creds.get(host)
            if creds is None and self._netrc is not None:
                found = self._netrc.authenticators(host)
                if found:
                    creds = (found[0] or "", found[2] or "")
            if creds is not None:
                request.headers["Authorization"] = httpx.BasicAuth(*creds)._auth_header
        yield request


def ssl_context(config: IndexConfig) -> ssl.SSLContext:
    cafile = config.cert or os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE")
    try:
        ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
        if config.client_cert:
            ctx.load_cert_chain(config.client_cert)
    except (OSError, ssl.SSLError) as exc:
        raise NetworkError(
            f"cannot load certificates ({cafile or config.client_cert}): {exc}"
        ) from exc
    return ctx


def make_client(
    config: IndexConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 16,
    timeout: float | None = None,
    http2: bool = True,
) -> httpx.AsyncClient:
    """The async client every download and index read goes through.

    `http2=False` for bulk downloads: httpx's HTTP/2 (pure-Python framing, every download
    multiplexed on one connection) took twice the CPU and time of HTTP/1.1 on `max_connections`
    connections for the same files over TLS (bench/mirror-results.md).
    """
    _larger_reads()
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    if transport is None:
        for host in config.trusted_hosts:
            mounts[f"all://{host}"] = httpx.AsyncHTTPTransport(
                verify=False, http2=http2, limits=limits, retries=1
            )
        transport = httpx.AsyncHTTPTransport(
            verify=ssl_context(config),
            http2=http2,
            limits=limits,
            retries=1,
            proxy=config.proxy or None,
        )
    return httpx.AsyncClient(
        transport=transport,
        mounts=mounts or None,
        timeout=httpx.Timeout(
            timeout or config.timeout, connect=min(timeout or config.timeout, 30.0)
        ),
        # only codings body_chunks undoes a bounded piece at a time
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        auth=IndexAuth(_credential_sources(config)),
        follow_redirects=True,
        trust_env=config.proxy is None,
    )


def _larger_reads() -> None:
    """httpcore reads an HTTP/1.1 response 64 KB at a time, each read one trip through h11,
    anyio and the event loop: on a fast link that per-read cost, not the bytes, bounds a
    download. 1 MB reads (a buffer per open connection) measured ~20% faster on loopback.
    Set here, not at import: httpx imports httpcore (and h11, h2, anyio: ~30 ms) only when
    a transport is made, and a sync with nothing to fetch makes none."""
    import httpcore

    if getattr(httpcore.AsyncHTTP11Connection, "READ_NUM_BYTES", 0) < READ_BYTES:
        httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = READ_BYTES


def _credential_sources(config: IndexConfig) -> list[str]:
    """URLs that may carry credentials. pip's built-in default index never does, so it is not
    asked for (that costs a `pip --help` subprocess)."""
    indexes = [] if config.no_index else [config.index_url, *config.extra_index_urls]
    return [u for u in (*indexes, *config.find_links) if u]


MAX_WAIT = 30.0  # the longest Retry-After honoured


def backoff(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry `attempt` (1-based): Retry-After (delay-seconds or an
    HTTP-date, RFC 9110; anything else, "nan" included, ignored) up to MAX_WAIT, else a
    capped exponential with jitter."""
    told = _retry_after(retry_after) if retry_after else None
    if told is not None:
        return min(max(told, 0.0), MAX_WAIT)
    return float(min(0.25 * 2 ** (min(attempt, 16) - 1), 8.0) * (0.5 + random.random() / 2))


def _retry_after(text: str) -> float | None:
    text = text.strip()
    if text.isascii() and text.isdigit():
        return float(text[:6])  # a million seconds or more is "long": MAX_WAIT anyway
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return (when - datetime.now(timezone.utc)).total_seconds()


def incurable(exc: httpx.TransportError) -> bool:
    """True for failures a retry cannot cure: a scheme httpx cannot speak, a request it
    cannot form, a certificate that does not verify."""
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return True
    cause: BaseException | None = exc
    for _ in range(16):  # the chain httpx and httpcore build is a few links long
        if cause is None:
            return False
        if isinstance(cause, ssl.SSLCertVerificationError) or (
            isinstance(cause, ssl.SSLError) and "CERTIFICATE" in str(cause).upper()
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _reason(exc: BaseException) -> str:
    """What went wrong, for a message: the exception's text, with its cause's where that
    says more (a certificate failure hides behind a plain connect error)."""
    reason = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    for _ in range(16):  # a few links deep; a hand-made cycle must not spin
        if cause is None or isinstance(cause, ssl.SSLError):
            break
        cause = cause.__cause__ or cause.__context__
    if cause is not None and str(cause) not in reason:
        reason += f": {cause}"
    return reason


async def with_retries(what: str, url: str, retries: int, call: Callable[[], Awaitable[T]]) -> T:
    """Run `call`, retrying transient failures (connect errors, timeouts, 408/429/5xx).

    `call` raises httpx errors; a final failure becomes a NetworkError naming the URL
    without credentials.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status in RETRY_STATUS and attempt <= retries:
                delay = backoff(attempt, exc.response.headers.get("Retry-After"))
                log.debug(
                    "%s: HTTP %s from %s, retry %d in %.1fs",
                    what,
                    status,
                    redact_url(url),
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            raise NetworkError(
                f"{what}: HTTP {status} from {redact_url(url)}"
                + (f" after {attempt} attempts" if attempt > 1 else "")
            ) from None
        except httpx.TransportError as exc:
            if attempt <= retries and not incurable(exc):
                delay = backoff(attempt)
                log.debug(
                    "%s: %s on %s, retry %d in %.1fs",
                    what,
                    type(exc).__name__,
                    redact_url(url),
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            raise NetworkError(
                f"{what}: cannot reach {redact_url(url)}{tries} ({_reason(exc)})"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # a redirect loop, a body that does not decode, a URL httpx cannot use: a retry
            # would get the same answer
            raise NetworkError(f"{what}: {redact_url(url)}: {_reason(exc)}") from None


class BodyTooBig(NetworkError):
    """A response body longer than its bound; `limit` says which."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what}: the body is larger than {limit} bytes; cut off there")
        self.limit = limit


async def body_chunks(
    response: httpx.Response, limit: int, what: str, start: int = 0
) -> AsyncIterator[bytes]:
    """The body, decoded (gzip/deflate, a chunk of at most READ_BYTES at a time from at
    most READ_BYTES taken in: no bomb decodes in one piece), cut off with BodyTooBig once
    `start` plus what was sent would pass `limit` bytes."""
    decoder = _decoder(response, what)
    sent = start
    if response.is_stream_consumed:  # read whole already, decoded (a mock transport does)
        decoder = _Decoder(None, what)
    async for raw in _raw(response):
        for chunk in decoder.feed(raw):
            sent += len(chunk)
            if sent > limit:
                raise BodyTooBig(what, limit)
            yield chunk
    decoder.end()


def _raw(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed:
        return _once(response.content)
    return response.aiter_raw()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
    """The whole (decoded) body of a streamed response, at most `limit` bytes."""
    return b"".join([chunk async for chunk in body_chunks(response, limit, what)])


class _Decoder:
    """A content-coding undone a bounded piece at a time (identity: passed through)."""

    def __init__(self, wbits: int | None, what: str) -> None:
        self._inflater = zlib.decompressobj(wbits) if wbits is not None else None
        self._what = what

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflater is None:
            yield data
            return
        pending = data
        while pending:  # each turn takes in input or gives out READ_BYTES: bounded by data
            try:
                out = self._inflater.decompress(pending, READ_BYTES)
            except zlib.error as exc:
                raise NetworkError(f"{self._what}: corrupt compressed body ({exc})") from None
            pending = self._inflater.unconsumed_tail
            if out:
                yield out
            if self._inflater.eof:
                return

    def end(self) -> None:
        if self._inflater is not None and not self._inflater.eof:
            raise NetworkError(f"{self._what}: the compressed body is cut short")


def _decoder(response: httpx.Response, what: str) -> _Decoder:
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        return _Decoder(None, what)
    if coding in ("gzip", "x-gzip"):
        return _Decoder(16 + zlib.MAX_WBITS, what)
    if coding == "deflate":  # zlib-wrapped as the RFC says (raw deflate is rare, refused)
        return _Decoder(zlib.MAX_WBITS, what)
    raise NetworkError(f"{what}: unsupported content-encoding {coding!r}")

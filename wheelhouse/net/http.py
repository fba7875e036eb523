"""The one HTTP seam: an httpx client built from pip's configuration, retries, redaction.

Nothing else in wheelhouse opens connections. Tests hand `make_client` a transport or point
the configuration at a local server.
"""

from __future__ import annotations

import asyncio
import logging
import netrc
import os
import random
import ssl
from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from wheelhouse import __version__
from wheelhouse.errors import NetworkError
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.net.urls import redact_url, strip_credentials

__all__ = ["make_client", "redact_url", "strip_credentials", "with_retries"]

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
        headers={"User-Agent": USER_AGENT},
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


def backoff(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry `attempt` (1-based): Retry-After or capped exponential."""
    if retry_after:
        try:
            return min(float(retry_after), 30.0)
        except ValueError:
            pass
    return float(min(0.25 * 2 ** (attempt - 1), 8.0) * (0.5 + random.random() / 2))


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
            if attempt <= retries:
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
            reason = str(exc) or type(exc).__name__
            raise NetworkError(
                f"{what}: cannot reach {redact_url(url)} after {attempt} attempts ({reason})"
            ) from None

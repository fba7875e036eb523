"""uvicorn's httptools protocol with bounds on what a client can make `serve` hold before
the app sees a request (httptools itself has none: eight 64 MB headers took 484 MB).

A request line longer than REQUEST_LINE is answered 414, a head (request line and headers)
bigger than HEAD_BYTES or with more than HEADERS headers 431, a head not complete within
HEAD_SECONDS of its first byte is cut off; each closes the connection.

It also has a fast path below ASGI: a complete GET or HEAD request (HTTP/1.1, keep-alive,
no body, no upgrade, nothing else of the connection's in progress) that `MirrorApp` can
answer without I/O (`MirrorApp.answer_now`: a held page or file not due for revalidation,
its 304, /health, a 401) is answered with the app's own response bytes written straight to
the transport, and logged by the app as any other; everything else goes through ASGI as
before. The fast path is off when the app behind uvicorn's wrappers is not a MirrorApp.
"""

from __future__ import annotations

import asyncio
import copy
import time
import weakref
from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from wheelhouse.mirror.serve import MirrorApp

REQUEST_LINE = 8 << 10
HEAD_BYTES = 64 << 10
HEADERS = 100
HEAD_SECONDS = 30.0
JOINED = 1 << 16  # a fast answer's body up to this goes out in one write with its head


# request headers that take a request off the fast path (a body), or need a look (a proxy)
_NOTED = frozenset({b"content-length", b"transfer-encoding", b"x-forwarded-for"})


class FastApp:
    """The MirrorApp behind uvicorn's wrappers, and what of the wrappers matters to the fast
    path: the proxy headers middleware (which changes the client the access log names)."""

    def __init__(self, app: MirrorApp, proxy: ProxyHeadersMiddleware | None) -> None:
        self.app = app
        self.proxy = None
        if proxy is not None:  # the same middleware with the same trust, in front of nothing
            self.proxy = copy.copy(proxy)
            self.proxy.app = _capture

    def client(self, client: tuple[str, int] | None, headers: Any) -> Any:
        """The client as the proxy headers middleware makes it for the app (`False`: could
        not tell); the middleware's own code is run, synchronously."""
        if self.proxy is None:
            return client
        scope: dict[str, Any] = {"type": "http", "client": client, "headers": headers}
        running = self.proxy(scope, _never, _never)  # type: ignore[arg-type]
        try:
            running.send(None)
        except StopIteration:
            return scope.get("client")
        running.close()  # it awaited something: not a thing to run here
        return False


async def _capture(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _never() -> Any:
    raise RuntimeError("not called")


_FAST_APPS: weakref.WeakKeyDictionary[Config, FastApp | None] = weakref.WeakKeyDictionary()


# the uvicorn releases whose HttpToolsProtocol internals (parser callbacks, cycle, pipeline,
# flow, server_state.default_headers, on_response_complete) the fast path was checked
# against, byte for byte (tests/mirror/test_serve_fast.py); on any other, every request
# takes the ASGI path
TESTED_UVICORN = ("0.55",)


def uvicorn_tested(version: str | None = None) -> bool:
    """True for a uvicorn release the fast path was tested with (major.minor)."""
    if version is None:
        import uvicorn

        version = str(uvicorn.__version__)
    return ".".join(version.split(".")[:2]) in TESTED_UVICORN


def fast_app(config: Config) -> FastApp | None:
    """The MirrorApp uvicorn runs, found under the wrappers uvicorn may add (proxy headers);
    None (no fast path) for any other app or wrapper."""
    try:
        return _FAST_APPS[config]
    except KeyError:
        pass
    if not uvicorn_tested():
        _FAST_APPS[config] = None  # internals the fast path relies on may have moved
        return None
    app: Any = config.loaded_app
    proxy = None
    if isinstance(app, ProxyHeadersMiddleware):
        proxy, app = app, app.app
    found = FastApp(app, proxy) if isinstance(app, MirrorApp) else None
    _FAST_APPS[config] = found
    return found


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that counts a request's head as it arrives, and answers what the
    app can answer at once without ASGI."""

    _head_open = True  # between the end of one request and the end of the next one's head
    _head_bytes = 0
    _headers = 0
    _head_timer: asyncio.TimerHandle | None = None
    _refusal: tuple[int, str] | None = None  # set by a parser callback that refuses
    _fast_done = False  # the request being parsed was answered by the fast path
    _defaults: Any = None  # the server's default headers last seen, and as bytes
    _defaults_bytes = b""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain = not self.access_log and not self.root_path and self.limit_concurrency is None
        self._fast = fast_app(self.config) if plain else None

    def _refuse(self, status: int, message: str) -> None:
        """Stop the parser from a callback; httptools turns the error into a call of
        `send_400_response`, which answers with this status instead."""
        self._refusal = (status, message)
        raise ValueError(message)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_BYTES:
                self._answer(431, f"request head over {HEAD_BYTES} bytes")
                return
        super().data_received(data)

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > REQUEST_LINE:
            self._refuse(414, f"request target over {REQUEST_LINE} bytes")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        if self._headers > HEADERS:
            self._refuse(431, f"more than {HEADERS} headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open, self._head_bytes, self._headers = False, 0, 0
        self._stop_head_timer()
        if self._fast is None or not self._answer_fast(self._fast):
            super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_open = True
        if self._fast_done:  # answered already; the next request may begin
            self._fast_done = False
            self.on_response_complete()
            return
        super().on_message_complete()

    def _answer_fast(self, fast: FastApp) -> bool:
        """Answer the request whose head is complete if the app can at once; False: it goes
        the ASGI way (nothing was done)."""
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.pipeline:
            return False  # answers go out in order: behind the one in progress
        parser = self.parser
        method = parser.get_method()
        if (method != b"GET" and method != b"HEAD") or self.expect_100_continue:
            return False
        if parser.get_http_version() != "1.1" or not parser.should_keep_alive():
            return False
        if parser.should_upgrade() or self.flow.write_paused:
            return False
        forwarded = False
        for name, _ in self.headers:
            if name in _NOTED:
                if name != b"x-forwarded-for":
                    return False  # a body follows
                forwarded = True
        try:
            url = httptools.parse_url(self.url)
            path = url.path.decode("ascii")
        except Exception:
            return False  # uvicorn's own way says what is wrong
        if "%" in path:
            path = unquote(path)
        client = fast.client(self.client, self.headers) if forwarded else self.client
        if client is False:
            return False
        started = time.perf_counter()
        app = fast.app
        method_name = method.decode("ascii")
        query = url.query or b""
        try:
            reply = app.answer_now(method_name, path, query, self.headers)
        except Exception:
            return False  # the ASGI way logs it and answers 500
        if reply is None:
            return False
        defaults = self.server_state.default_headers
        if defaults is not self._defaults:
            self._defaults = defaults
            self._defaults_bytes = b"".join([n + b": " + v + b"\r\n" for n, v in defaults])
        head = (STATUS_LINE[reply.status], self._defaults_bytes, reply.head)
        body = b"" if method == b"HEAD" else reply.data
        if len(body) > JOINED:  # a big page: not copied to go out in one piece
            self.transport.write(b"".join(head))
            self.transport.write(body)
        else:
            self.transport.write(b"".join((*head, body)))
        self._fast_done = True
        app.fast_answers += 1
        app.log_access(client, method_name, path, query, reply.status, reply.sent, started)
        return True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_head_timer()

    def send_400_response(self, msg: str) -> None:
        """httptools' parse errors end here: our own refusals keep their status."""
        if self._refusal is not None:
            self._answer(*self._refusal)
            return
        super().send_400_response(msg)

    def _answer(self, status: int, message: str) -> None:
        body = (message + "\n").encode("ascii", "replace")
        head = [STATUS_LINE[status]]
        head += [b"content-type: text/plain; charset=utf-8\r\n"]
        head += [b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self._stop_head_timer()

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._head_open and not self.transport.is_closing():
            self.transport.close()

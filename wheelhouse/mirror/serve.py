"""`serve`: the wheelhouse over HTTP as an ASGI app (run under uvicorn).

Read-only. ``/simple/`` and ``/simple/<project>/`` come from the static tree with PEP 691
content negotiation; ``/files/<name>`` streams files with ETag, If-None-Match and Range;
``/health`` answers unauthenticated. Nothing outside ``files/`` and ``simple/`` is reachable.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import re
import stat
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote

from packaging.utils import canonicalize_name

from wheelhouse.errors import UsageError
from wheelhouse.mirror.protocol import etag_matches, negotiate, parse_range
from wheelhouse.mirror.serveconfig import ENV_BASIC, ENV_TOKEN, ServeConfig
from wheelhouse.store.layout import Wheelhouse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

access_log = logging.getLogger("wheelhouse.access")
CHUNK = 1 << 18
THREADED_READ = 1 << 20  # files above this are read off the event loop
SMALL_FILE = 1 << 16  # files up to this size (metadata, small wheels) are kept in memory
CACHE_BYTES = 64 << 20
_PROJECT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class _Cached:
    mtime_ns: int
    size: int
    data: bytes


class MirrorApp:
    """The ASGI application."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.wheelhouse = Wheelhouse(Path(config.root).resolve())
        # every path served must resolve inside one of these (links in the tree included)
        self._simple = os.path.realpath(self.wheelhouse.simple) + os.sep
        self._files = os.path.realpath(self.wheelhouse.files) + os.sep
        self._cache: dict[str, _Cached] = {}
        self._cached_bytes = 0
        self._auth_ok: set[str] = set()
        if config.token:
            self._auth_ok.add(f"Bearer {config.token}")
        if config.basic_auth:
            self._auth_ok.add(_basic(*config.basic_auth))

    def authorized(self, given: str) -> bool:
        """No auth configured, the exact credentials, or (with a token) any user + token.

        pip and uv send credentials only as Basic auth from the index URL, so a token is
        also accepted as the password of any user name.
        """
        if not self._auth_ok:
            return True
        ok = any(hmac.compare_digest(given.encode(), a.encode()) for a in self._auth_ok)
        if not ok and self.config.token and given.startswith("Basic "):
            try:
                decoded = base64.b64decode(given[6:], validate=True).decode()
            except ValueError:
                return False
            password = decoded.partition(":")[2]
            ok = hmac.compare_digest(password.encode(), self.config.token.encode())
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        sent = {"status": 0, "bytes": 0}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.handle(scope, logged_send)
        finally:
            client = scope.get("client") or ("-", 0)
            qs = scope.get("query_string", b"").decode("latin-1")
            access_log.info(
                '%s "%s %s%s" %d %d %.1fms',
                client[0],
                _loggable(scope["method"]),
                _loggable(scope["path"]),
                f"?{_loggable(qs)}" if qs else "",
                sent["status"],
                sent["bytes"],
                (time.perf_counter() - started) * 1000,
            )

    async def handle(self, scope: Scope, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", {"allow": "GET, HEAD"})
            return
        head = method == "HEAD"
        if path == "/health":
            ok = (self.wheelhouse.simple / "index.html").is_file()
            body = json.dumps({"status": "ok" if ok else "no index"}).encode()
            await _respond(send, 200 if ok else 503, body, {"content-type": "application/json"})
            return
        if not self.authorized(headers.get("authorization", "")):
            challenge = {"www-authenticate": 'Basic realm="wheelhouse"'}
            await _respond(send, 401, b"authentication required\n", challenge)
            return
        if path in ("/", "/simple"):
            await _redirect(send, "/simple/")
            return
        if path.startswith("/simple/"):
            await self.page(scope, path[len("/simple/") :], headers, send, head)
            return
        if path.startswith("/files/"):
            await self.file(path[len("/files/") :], headers, send, head)
            return
        await _respond(send, 404, b"not found\n")

    async def page(
        self, scope: Scope, rest: str, headers: dict[str, str], send: Send, head: bool
    ) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        chosen = negotiate(headers.get("accept"), (query.get("format") or [None])[0])
        if chosen is None:
            await _respond(send, 406, b"not acceptable: ask for PEP 691 JSON or HTML\n")
            return
        kind, ctype = chosen
        if rest:
            name = rest.rstrip("/")
            if "/" in name or not name:
                await _respond(send, 404, b"not found\n")
                return
            canonical = canonicalize_name(name)
            if canonical != name or not rest.endswith("/"):
                if not _PROJECT.match(canonical):
                    await _respond(send, 404, b"not found\n")
                    return
                qs = scope.get("query_string", b"").decode("latin-1")
                await _redirect(send, f"/simple/{canonical}/" + (f"?{qs}" if qs else ""))
                return
            if not _PROJECT.match(name):
                await _respond(send, 404, b"not found\n")
                return
            file = self.wheelhouse.simple / name / f"index.{kind}"
        else:
            file = self.wheelhouse.simple / f"index.{kind}"
        cached = self._page(file) if _inside(file, self._simple) else None
        if cached is None:
            await _respond(send, 404, b"no such project\n")
            return
        etag = f'"{kind}-{cached.size:x}-{cached.mtime_ns:x}"'
        extra = {
            "content-type": ctype,
            "etag": etag,
            "vary": "Accept",
            "cache-control": "max-age=0, must-revalidate",
        }
        if etag_matches(headers.get("if-none-match"), etag):
            await _respond(send, 304, b"", extra)
            return
        await _respond(send, 200, b"" if head else cached.data, extra, length=cached.size)

    def _page(self, file: Path) -> _Cached | None:
        """A page's bytes, read again only when its size or mtime changed."""
        try:
            st = os.lstat(file)
        except OSError:
            self._cache.pop(str(file), None)
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return self._cached(file, st)

    def _cached(self, file: Path, st: os.stat_result) -> _Cached | None:
        key = str(file)
        hit = self._cache.get(key)
        if hit is not None and hit.mtime_ns == st.st_mtime_ns and hit.size == st.st_size:
            return hit
        try:
            fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as f:
                data = f.read()
        except OSError:
            return None
        if len(data) != st.st_size:
            return None  # replaced while we looked: do not cache a mix
        hit = _Cached(st.st_mtime_ns, len(data), data)
        if self._cached_bytes + len(data) > CACHE_BYTES:
            self._cache.clear()
            self._cached_bytes = 0
        self._cache[key] = hit
        self._cached_bytes += len(data)
        return hit

    async def file(self, name: str, headers: dict[str, str], send: Send, head: bool) -> None:
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
            await _respond(send, 404, b"not found\n")
            return
        path = self.wheelhouse.files / name
        try:
            st = os.lstat(path) if _inside(path, self._files) else None
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            await _respond(send, 404, b"not found\n")
            return
        small = self._cached(path, st) if st.st_size <= SMALL_FILE else None
        if small is not None:
            await self._send_file(name, small.size, small.mtime_ns, headers, send, head, small.data)
            return
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            await _respond(send, 404, b"not found\n")
            return
        with os.fdopen(fd, "rb") as f:
            fst = os.fstat(f.fileno())
            if not stat.S_ISREG(fst.st_mode):
                await _respond(send, 404, b"not found\n")
                return
            await self._send_file(name, fst.st_size, fst.st_mtime_ns, headers, send, head, f)

    async def _send_file(
        self,
        name: str,
        size: int,
        mtime_ns: int,
        headers: dict[str, str],
        send: Send,
        head: bool,
        body: bytes | BinaryIO,
    ) -> None:
        """Answer for one file: 304, 416, 206 or 200, from bytes in memory or an open file."""
        etag = f'"{size:x}-{mtime_ns:x}"'
        is_meta = name.endswith(".metadata")
        extra = {
            "content-type": "text/plain; charset=utf-8" if is_meta else "application/octet-stream",
            "etag": etag,
            "accept-ranges": "bytes",
            "cache-control": "max-age=3600",
        }
        if etag_matches(headers.get("if-none-match"), etag):
            await _respond(send, 304, b"", extra)
            return
        rng = parse_range(headers.get("range"), size)
        if_range = headers.get("if-range")
        if if_range is not None and if_range != etag:
            rng = None
        if rng is False:
            extra["content-range"] = f"bytes */{size}"
            await _respond(send, 416, b"", extra)
            return
        status, start, end = 200, 0, size - 1
        if isinstance(rng, tuple):
            status, (start, end) = 206, rng
            extra["content-range"] = f"bytes {start}-{end}/{size}"
        length = max(end - start + 1, 0)
        await send(_start(status, extra, length))
        if head or length == 0:
            await send({"type": "http.response.body", "body": b""})
        elif isinstance(body, bytes):
            await send({"type": "http.response.body", "body": body[start : end + 1]})
        else:
            await _stream(body, start, length, send)


async def _stream(f: BinaryIO, start: int, length: int, send: Send) -> None:
    """Send `length` bytes from `start` a chunk at a time (big files read off the loop)."""
    f.seek(start)
    remaining = length
    threaded = length > THREADED_READ
    while remaining > 0:
        n = min(CHUNK, remaining)
        block = await asyncio.to_thread(f.read, n) if threaded else f.read(n)
        if not block:
            break  # the file shrank under us: end the response short
        remaining -= len(block)
        await send({"type": "http.response.body", "body": block, "more_body": remaining > 0})
    if remaining > 0:
        await send({"type": "http.response.body", "body": b""})


def _inside(path: Path, root: str) -> bool:
    """True if `path`, every link in it resolved, is inside `root` (which ends in a
    separator): a linked folder or file that leads out of the tree is not served."""
    return os.path.realpath(path).startswith(root)


_UNSAFE_IN_LOG = re.compile(r'[^\x21-\x7e]|["\\%]')


def _loggable(text: str) -> str:
    """Text from the request as one log field: anything but printable ASCII (a line break
    would forge a log line), the quote and the percent sign itself percent-escaped."""
    return _UNSAFE_IN_LOG.sub(
        lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogateescape")),
        text,
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _start(status: int, headers: dict[str, str], length: int) -> Message:
    raw = [(b"content-length", str(length).encode())]
    raw += [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
    return {"type": "http.response.start", "status": status, "headers": raw}


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> None:
    headers = {"content-type": "text/plain; charset=utf-8", **(headers or {})}
    await send(_start(status, headers, len(body) if length is None else length))
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await _respond(send, 301, b"", {"location": quote(location, safe="/?=&")})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def app_from_env() -> MirrorApp:
    """The app for each of several uvicorn worker processes (configured through the
    environment, which the workers inherit; the access log goes to stderr)."""
    access = logging.getLogger("wheelhouse.access")
    if not logging.getLogger("wheelhouse").handlers and not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    return MirrorApp(ServeConfig.from_env(os.environ))


def check_can_listen(host: str, port: int) -> None:
    """Fail with a clear message before anything is announced if the address is taken."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def server_options() -> dict[str, Any]:
    """uvicorn's settings for `serve` (tests start theirs with the same)."""
    from wheelhouse.mirror.httplimits import LimitedHttpToolsProtocol

    return {
        "access_log": False,
        "server_header": False,
        "lifespan": "on",
        # bounds on request heads (httptools has none of its own): see httplimits
        "http": LimitedHttpToolsProtocol,
    }


def run_server(
    config: ServeConfig, host: str, port: int, log_level: str = "info", workers: int = 1
) -> None:
    """Serve until interrupted (uvicorn; our own access log, not uvicorn's)."""
    import uvicorn

    common: dict[str, Any] = {"host": host, "port": port, "log_level": log_level}
    common.update(server_options())
    if workers <= 1:
        uvicorn.run(MirrorApp(config), **common)
        return
    for name in (ENV_TOKEN, ENV_BASIC):
        os.environ.pop(name, None)
    os.environ.update(config.to_env())
    uvicorn.run("wheelhouse.mirror.serve:app_from_env", factory=True, workers=workers, **common)

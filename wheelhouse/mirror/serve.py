"""`serve`: the wheelhouse over HTTP as an ASGI app (run under uvicorn).

Read-only. ``/simple/`` and ``/simple/<project>/`` come from the static tree with PEP 691
content negotiation; ``/files/<name>`` streams files with ETag, If-None-Match and Range;
``/health`` (alive) and ``/ready`` (an index, recent enough) answer unauthenticated. Nothing
outside ``files/`` and ``simple/`` is reachable. Pages and small files are answered from a
per-process cache (`servecache`) with their responses made once.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote

from packaging.utils import canonicalize_name

from wheelhouse.errors import UsageError, WheelhouseError
from wheelhouse.logformat import JsonFormatter, utc_time
from wheelhouse.mirror.catalog import parse_sync_stamp
from wheelhouse.mirror.protocol import etag_matches, negotiate, parse_range
from wheelhouse.mirror.servecache import (
    PAGE_LIMIT,
    SMALL_FILE,
    Body,
    Cached,
    Headers,
    Large,
    LocalSource,
    ObjectCache,
    Reply,
    Source,
    StorageSource,
)
from wheelhouse.mirror.serveconfig import ENV_BASIC, ENV_TOKEN, ServeConfig
from wheelhouse.store.layout import METADATA_SUFFIX, SYNC_STAMP
from wheelhouse.store.location import is_remote, open_wheelhouse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

access_log = logging.getLogger("wheelhouse.access")
log = logging.getLogger("wheelhouse")
_PROJECT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# the request headers `serve` reads (uvicorn hands them lower-cased)
_WANTED = frozenset({b"accept", b"authorization", b"if-none-match", b"range", b"if-range"})
_MEMO = 1024  # bound of the per-process memos of Accept headers and granted credentials
_EMPTY: Message = {"type": "http.response.body", "body": b""}
_PAGE_CACHE_CONTROL = (b"cache-control", b"max-age=0, must-revalidate")
_FILE_CACHE_CONTROL = (b"cache-control", b"max-age=3600")
_OCTETS = "application/octet-stream"
_METADATA_TYPE = "text/plain; charset=utf-8"
_STAMP_LIMIT = 1 << 16
ENV_LOG_LEVEL = "WHEELHOUSE_SERVE_LOG_LEVEL"  # uvicorn's level, handed to worker processes


def object_headers(key: str, etag: str) -> Headers:
    """The constant headers of a cached object's responses (content type aside)."""
    if key.startswith("simple/"):
        return [(b"etag", etag.encode()), (b"vary", b"Accept"), _PAGE_CACHE_CONTROL]
    return [(b"etag", etag.encode()), (b"accept-ranges", b"bytes"), _FILE_CACHE_CONTROL]


def source_for(root: Path | str) -> Source:
    """A folder's source, or object storage's (opened on first use, in the server's loop)."""
    if is_remote(root):
        # one quick retry and a short connect timeout: while the storage is unreachable, a
        # held page is answered after ~1-3 s instead of the ~15 s a sync's retries take
        # (pip's own timeout is 15 s), and /ready says so within a probe's timeout
        return StorageSource(open_wheelhouse(root, retries=1, connection_timeout=2))
    return LocalSource(Path(root))


class Lookup(NamedTuple):
    """A request for a held object: its key, the content type to answer with, and whether
    it is a page (else a file, which Range applies to)."""

    key: str
    ctype: str
    page: bool


def wanted_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The request headers `serve` reads (the last of each name)."""
    return {k: v for k, v in headers if k in _WANTED}


def default_workers(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """One worker process per CPU this process may run on: the CPUs it may be scheduled on,
    capped by the container's CPU quota where one is set (`docker --cpus`, a Kubernetes CPU
    limit: cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`)."""
    if hasattr(os, "sched_getaffinity"):
        cpus = max(len(os.sched_getaffinity(0)), 1)
    else:
        cpus = os.cpu_count() or 1
    quota = cpu_quota(cgroup)
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


def cpu_quota(cgroup: Path) -> float | None:
    """The CPUs the cgroup's quota allows (2.5 for `250000 100000`), None if unlimited or
    unreadable."""
    try:
        text = (cgroup / "cpu.max").read_text().split()
    except OSError:
        try:
            text = [
                (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip(),
                (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip(),
            ]
        except OSError:
            return None
    try:
        quota, period = float(text[0]), float(text[1])
    except (IndexError, ValueError):  # "max 100000", or something unexpected
        return None
    if not (0 < quota < float("inf") and 0 < period < float("inf")):
        return None  # -1 (v1's unlimited), or nonsense
    return quota / period


class MirrorApp:
    """The ASGI application. `source` replaces the wheelhouse folder (tests, object
    storage); `clock` the monotonic clock the cache revalidates by."""

    def __init__(
        self,
        config: ServeConfig,
        source: Source | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.source = source if source is not None else source_for(config.root)
        self.cache = ObjectCache(self.source, object_headers, config.revalidate, clock)
        self._json_log = config.log_format == "json"
        self._auth_ok: set[str] = set()
        if config.token:
            self._auth_ok.add(f"Bearer {config.token}")
        if config.basic_auth:
            self._auth_ok.add(_basic(*config.basic_auth))
        self._granted: set[bytes] = set()  # Authorization values found good
        self._negotiated: dict[tuple[bytes | None, bytes], tuple[str, str] | None] = {}
        self.fast_answers = 0  # requests answered below ASGI (httplimits), for the tests
        health = b'{"status": "ok"}'
        json_type = {"content-type": "application/json"}
        self._health = (_reply(200, health, json_type), _reply(200, b"", json_type, len(health)))
        self._not_allowed = _reply(405, b"method not allowed\n", {"allow": "GET, HEAD"})
        challenge = {"www-authenticate": 'Basic realm="wheelhouse"'}
        self._unauthorized = _reply(401, b"authentication required\n", challenge)
        self._not_acceptable = _reply(406, b"not acceptable: ask for PEP 691 JSON or HTML\n")
        self._not_found = _reply(404, b"not found\n")

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

    def _authorized(self, given: bytes | None) -> bool:
        """`authorized`, remembering the values that passed (a bounded set)."""
        if given is not None and given in self._granted:
            return True
        if not self.authorized((given or b"").decode("latin-1")):
            return False
        if given is not None:
            if len(self._granted) >= _MEMO:
                self._granted.clear()
            self._granted.add(given)
        return True

    def _negotiate(self, accept: bytes | None, query: bytes) -> tuple[str, str] | None:
        """`negotiate` of the Accept header and ?format=, remembered (a bounded memo)."""
        key = (accept, query)
        try:
            return self._negotiated[key]
        except KeyError:
            pass
        fmt: str | None = None
        if query:
            fmt = next(iter(parse_qs(query.decode("latin-1")).get("format", [])), None)
        chosen = negotiate(None if accept is None else accept.decode("latin-1"), fmt)
        if len(self._negotiated) >= _MEMO:
            self._negotiated.clear()
        self._negotiated[key] = chosen
        return chosen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send, self.source)
            return
        started = time.perf_counter()
        status, nbytes = 0, 0
        try:
            status, nbytes = await self.handle(scope, send)
        finally:
            self.log_access(
                scope.get("client"),
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                status,
                nbytes,
                started,
            )

    def log_access(
        self,
        client_addr: tuple[str, int] | None,
        method_name: str,
        path: str,
        query: bytes,
        status: int,
        nbytes: int,
        started: float,
    ) -> None:
        """One access log line (if the access log is on): text, or a JSON object; never a
        credential (no headers are logged), request text escaped (so it needs no more
        escaping inside JSON). The ASGI path and the fast path below it both write here."""
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = _loggable(str((client_addr or ("-", 0))[0]))
        qs = query.decode("latin-1")
        target = _loggable(path) + (f"?{_loggable(qs)}" if qs else "")
        millis = (time.perf_counter() - started) * 1000
        method = _loggable(method_name)
        if self._json_log:
            line = (
                f'{{"time": "{utc_time(time.time())}", "client": "{client}", '
                f'"method": "{method}", "path": "{target}", "status": {status}, '
                f'"bytes": {nbytes}, "duration_ms": {millis:.3f}}}'
            )
            record = access_log.makeRecord(access_log.name, logging.INFO, "", 0, line, (), None)
        else:
            fields = (client, method, target, status, nbytes, millis)
            record = access_log.makeRecord(
                access_log.name, logging.INFO, "", 0, '%s "%s %s" %d %d %.1fms', fields, None
            )
        access_log.handle(record)  # made here: no search of the caller's frame per request

    def route(
        self, method: str, path: str, query: bytes, headers: dict[bytes, bytes]
    ) -> Reply | Lookup | None:
        """What answering a request takes, decided without I/O: the response itself, the
        object to look up, or None (the rest: /ready, redirects, not found)."""
        if method != "GET" and method != "HEAD":
            return self._not_allowed
        if path == "/health":
            return self._health[method == "HEAD"]
        if path == "/ready":
            return None
        if self._auth_ok and not self._authorized(headers.get(b"authorization")):
            return self._unauthorized
        if path.startswith("/simple/"):
            chosen = self._negotiate(headers.get(b"accept"), query)
            if chosen is None:
                return self._not_acceptable
            kind, ctype = chosen
            rest = path[len("/simple/") :]
            if not rest:
                return Lookup(f"simple/index.{kind}", ctype, True)
            if rest[-1] == "/" and _PROJECT.match(rest[:-1]):  # canonical, as linked
                return Lookup(f"simple/{rest}index.{kind}", ctype, True)
            return None
        if path.startswith("/files/"):
            name = path[len("/files/") :]
            if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
                return self._not_found
            ctype = _METADATA_TYPE if name.endswith(METADATA_SUFFIX) else _OCTETS
            return Lookup(f"files/{name}", ctype, False)
        return None

    def answer_now(
        self, method: str, path: str, query: bytes, headers: Iterable[tuple[bytes, bytes]]
    ) -> Reply | None:
        """The response if it is known without I/O (from `route`, or an object held and not
        due for revalidation), else None: the request goes the ASGI way (`handle`). No side
        effects but the memos of `route`. The fast path below ASGI asks this."""
        wanted = wanted_headers(headers)
        routed = self.route(method, path, query, wanted)
        if not isinstance(routed, Lookup):
            return routed
        found = self.cache.fresh(routed.key)
        if found is None or not (routed.page or b"range" not in wanted):
            return None
        return _cached_reply(found, routed.ctype, wanted, method == "HEAD")

    async def handle(self, scope: Scope, send: Send) -> tuple[int, int]:
        """Answer one request; (status, body bytes sent)."""
        path: str = scope["path"]
        method: str = scope["method"]
        headers = wanted_headers(scope["headers"])
        routed = self.route(method, path, scope.get("query_string", b""), headers)
        if isinstance(routed, Reply):
            return await _send(send, routed)
        head = method == "HEAD"
        if routed is None:
            if path == "/ready":
                return await self.ready(send, head)
            if path.startswith("/simple/"):
                return await self._not_canonical(scope, path[len("/simple/") :], send)
            if path in ("/", "/simple"):
                return await _redirect(send, "/simple/")
            return await _send(send, self._not_found)
        try:
            return await self.lookup(routed, headers, send, head)
        except (WheelhouseError, OSError) as exc:
            # the source cannot be read and nothing of it is held: say so, briefly
            log.warning("%s: %s", self.source.describe(), exc)
            return await _respond(send, 503, b"wheelhouse unavailable\n", {"retry-after": "5"})

    async def lookup(
        self, lookup: Lookup, headers: dict[bytes, bytes], send: Send, head: bool
    ) -> tuple[int, int]:
        """A page or file: held (the same response as `answer_now`'s), streamed, or read
        first."""
        key, ctype, page = lookup
        found = self.cache.fresh(key) or await self.cache.get(
            key, PAGE_LIMIT if page else SMALL_FILE
        )
        if found is None:
            return await _respond(send, 404, b"no such project\n" if page else b"not found\n")
        if page:
            extra = {"vary": "Accept", "cache-control": "max-age=0, must-revalidate"}
        else:
            extra = {"accept-ranges": "bytes", "cache-control": "max-age=3600"}
        if isinstance(found, Large):
            return await self._stream(found, key, ctype, extra, headers, send, head, not page)
        if page or b"range" not in headers:
            return await _send(send, _cached_reply(found, ctype, headers, head))
        return await _send_ranged(found.data, found.etag, ctype, extra, headers, send, head)

    async def _not_canonical(self, scope: Scope, rest: str, send: Send) -> tuple[int, int]:
        """A project path not in its canonical form: redirected there, or not found."""
        name = rest.rstrip("/")
        if "/" in name or not name:
            return await _respond(send, 404, b"not found\n")
        canonical = canonicalize_name(name)
        if not _PROJECT.match(canonical):
            return await _respond(send, 404, b"not found\n")
        qs = scope.get("query_string", b"").decode("latin-1")
        return await _redirect(send, f"/simple/{canonical}/" + (f"?{qs}" if qs else ""))

    async def _stream(
        self,
        large: Large,
        key: str,
        ctype: str,
        extra: dict[str, str],
        headers: dict[bytes, bytes],
        send: Send,
        head: bool,
        ranges: bool,
    ) -> tuple[int, int]:
        body = await self.source.open(key, large.stat)
        if body is None:
            return await _respond(send, 404, b"not found\n")
        try:
            wanted = headers if ranges else {k: v for k, v in headers.items() if k != b"range"}
            return await _send_ranged(body, body.stat.etag, ctype, extra, wanted, send, head)
        finally:
            await body.aclose()

    async def ready(self, send: Send, head: bool) -> tuple[int, int]:
        """503 with the reason until there is an index (recent enough, with
        --ready-max-age); 200 with when the last sync finished."""
        try:
            report = await self.readiness()
        except (WheelhouseError, OSError) as exc:
            # the detail (a path, the storage URL) goes to the log, not to an
            # unauthenticated client
            log.warning("/ready: wheelhouse unreadable: %s", exc)
            report = {"status": "not ready", "reason": "wheelhouse unreadable (see the log)"}
        body = json.dumps(report).encode()
        status = 200 if report["status"] == "ready" else 503
        return await _respond(
            send, status, b"" if head else body, {"content-type": "application/json"}, len(body)
        )

    async def readiness(self) -> dict[str, Any]:
        """What /ready answers (`status` "ready" or "not ready" with a `reason`)."""
        index = await self.cache.get("simple/index.html", PAGE_LIMIT)
        if index is None:
            return {"status": "not ready", "reason": "no index: simple/index.html is missing"}
        stamp = await self.cache.get(SYNC_STAMP, _STAMP_LIMIT)
        finished = parse_sync_stamp(stamp.data) if isinstance(stamp, Cached) else None
        if finished is None and isinstance(index, Cached):
            finished = datetime.fromtimestamp(index.modified, timezone.utc)
        report: dict[str, Any] = {"status": "ready"}
        if finished is not None:
            age = max(time.time() - finished.timestamp(), 0.0)
            report["last_sync"] = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
            report["age_seconds"] = round(age, 1)
            limit = self.config.ready_max_age
            if limit is not None and age > limit:
                report["status"] = "not ready"
                report["reason"] = (
                    f"the last sync finished {age:.0f} s ago, longer than --ready-max-age"
                    f" {limit:g} s"
                )
        return report


def _cached_reply(found: Cached, ctype: str, headers: dict[bytes, bytes], head: bool) -> Reply:
    """The hot path: a held object's ready-made 200 (with or without its body) or 304."""
    ok, ok_head, not_modified = found.replies(ctype)
    match = headers.get(b"if-none-match")
    if match is not None:
        text = match.decode("latin-1")
        if text == found.etag or etag_matches(text, found.etag):
            return not_modified
    return ok_head if head else ok


async def _send(send: Send, reply: Reply) -> tuple[int, int]:
    await send(reply.start)
    await send(reply.body)
    return reply.status, reply.sent


async def _send_ranged(
    body: bytes | Body,
    etag: str,
    ctype: str,
    extra: dict[str, str],
    headers: dict[bytes, bytes],
    send: Send,
    head: bool,
) -> tuple[int, int]:
    """Answer for one object: 304, 416, 206 or 200, from bytes in memory or a source."""
    size = len(body) if isinstance(body, bytes) else body.stat.size
    extra = {"content-type": ctype, "etag": etag, **extra}
    match = headers.get(b"if-none-match")
    if match is not None and etag_matches(match.decode("latin-1"), etag):
        return await _respond(send, 304, b"", extra)
    raw_range = headers.get(b"range")
    rng = parse_range(None if raw_range is None else raw_range.decode("latin-1"), size)
    if_range = headers.get(b"if-range")
    if if_range is not None and if_range.decode("latin-1") != etag:
        rng = None
    if rng is False:
        extra["content-range"] = f"bytes */{size}"
        return await _respond(send, 416, b"", extra)
    status, start, end = 200, 0, size - 1
    if isinstance(rng, tuple):
        status, (start, end) = 206, rng
        extra["content-range"] = f"bytes {start}-{end}/{size}"
    length = max(end - start + 1, 0)
    await send(_start_message(status, extra, length))
    if head or length == 0:
        await send(_EMPTY)
        return status, 0
    if isinstance(body, bytes):
        await send({"type": "http.response.body", "body": body[start : end + 1]})
        return status, length
    sent = 0
    try:
        async for block in body.chunks(start, length):
            sent += len(block)
            await send({"type": "http.response.body", "body": block, "more_body": sent < length})
    except (WheelhouseError, OSError) as exc:  # the head is out: all that is left is to stop
        log.warning("reading failed after %d of %d bytes: %s", sent, length, exc)
    if sent < length:
        await send(_EMPTY)  # the object changed or shrank under us: the response ends short
    return status, sent


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


def _raw_headers(headers: dict[str, str], length: int) -> list[tuple[bytes, bytes]]:
    raw = [(b"content-length", str(length).encode())]
    raw += [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
    return raw


def _start_message(status: int, headers: dict[str, str], length: int) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": _raw_headers(headers, length),
    }


def _reply(
    status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None
) -> Reply:
    headers = {"content-type": "text/plain; charset=utf-8", **(headers or {})}
    return Reply(status, _raw_headers(headers, len(body) if length is None else length), body)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> tuple[int, int]:
    return await _send(send, _reply(status, body, headers, length))


async def _redirect(send: Send, location: str) -> tuple[int, int]:
    return await _respond(send, 301, b"", {"location": quote(location, safe="/?=&")})


async def _lifespan(receive: Receive, send: Send, source: Source) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            flush_access_log()
            await source.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


FLUSH_SECONDS = 0.1  # the longest an access line waits in the batch
FLUSH_BYTES = 1 << 16


class BatchedStderr(logging.Handler):
    """Log lines to stderr a batch at a time: written FLUSH_SECONDS after the first line of
    a batch or once FLUSH_BYTES gathered (one system call per batch, not per request: at
    10-20k requests/s a write and flush per line cost a third of the time). Outside an
    event loop every line is written at once."""

    def __init__(self) -> None:
        super().__init__()
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        with self.lock or nullcontext():
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._lines:
                return
            data, self._lines, self._size = "".join(self._lines), [], 0
            try:
                sys.stderr.write(data)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass  # stderr gone (closed at exit): nothing to tell it to

    def close(self) -> None:
        self.flush()
        super().close()


def flush_access_log() -> None:
    for handler in access_log.handlers:
        handler.flush()


def _log_to_stderr(log_format: str, level: int | None = None) -> None:
    """The access log to stderr as the app forms its lines (text or JSON), not through the
    tool's handler; in a worker process of its own (`level` given), the tool's own lines
    too, as text or JSON. Handlers set up already are kept."""
    access = logging.getLogger("wheelhouse.access")
    if not access.handlers:
        batched = BatchedStderr()
        batched.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(batched)
        access.propagate = False
    if level is None:
        return
    tool = logging.getLogger("wheelhouse")
    if not tool.handlers:
        handler = logging.StreamHandler()
        text = logging.Formatter("%(message)s")
        handler.setFormatter(JsonFormatter() if log_format == "json" else text)
        tool.addHandler(handler)
        tool.setLevel(level)


def app_from_env() -> MirrorApp:
    """The app for each of several uvicorn worker processes (configured through the
    environment, which the workers inherit; the logs go to stderr)."""
    config = ServeConfig.from_env(os.environ)
    quiet = os.environ.get(ENV_LOG_LEVEL, "info") not in ("info", "debug", "trace")
    _log_to_stderr(config.log_format, logging.WARNING if quiet else logging.INFO)
    return MirrorApp(config)


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


def uvicorn_log_config(log_format: str) -> dict[str, Any] | None:
    """uvicorn's own lines (start, stop, errors) as JSON objects with --log-format json;
    None keeps uvicorn's text format."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "wheelhouse.logformat.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def run_server(
    config: ServeConfig,
    host: str,
    port: int,
    log_level: str = "info",
    workers: int | None = None,
) -> None:
    """Serve until interrupted (uvicorn; our own access log, not uvicorn's) with `workers`
    processes (None: one per CPU this process may use)."""
    import uvicorn

    workers = default_workers() if workers is None else workers
    common: dict[str, Any] = {"host": host, "port": port, "log_level": log_level}
    common.update(server_options())
    log_config = uvicorn_log_config(config.log_format)
    if log_config is not None:
        common["log_config"] = log_config
    if workers <= 1:
        _log_to_stderr(config.log_format)
        uvicorn.run(MirrorApp(config), **common)
        return
    for name in (ENV_TOKEN, ENV_BASIC):
        os.environ.pop(name, None)
    os.environ.update(config.to_env())
    os.environ[ENV_LOG_LEVEL] = log_level
    uvicorn.run("wheelhouse.mirror.serve:app_from_env", factory=True, workers=workers, **common)

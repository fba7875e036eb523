"""The fast path below ASGI (httplimits + MirrorApp.answer_now): what it answers is the same,
byte for byte, as what the ASGI path answers, and it is taken (the app counts its answers).

Each test runs two servers over one app: one as `serve` runs it (fast path on) and one with
the app wrapped in a plain ASGI callable (not a MirrorApp: fast path off)."""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.helpers import Synced, run_mirror
from tests.mirror.test_serve_ops import Clock, captured_access, wait_for
from wheelhouse.mirror.httplimits import TESTED_UVICORN, uvicorn_tested
from wheelhouse.mirror.serve import MirrorApp
from wheelhouse.mirror.serveconfig import ServeConfig

JSON = "application/vnd.pypi.simple.v1+json"

if not uvicorn_tested():  # every request takes the ASGI path there (tested below)
    pytest.skip(
        f"the fast path is checked against uvicorn {', '.join(TESTED_UVICORN)} only; "
        "add this release to httplimits.TESTED_UVICORN once these tests pass on it",
        allow_module_level=True,
    )


def test_the_fast_path_keeps_to_tested_uvicorn_releases() -> None:
    assert uvicorn_tested("0.55.0") and uvicorn_tested("0.55.12")
    assert not uvicorn_tested("0.56.0") and not uvicorn_tested("1.0.0")


class Wrapped:
    """The app behind a plain ASGI callable: uvicorn cannot see a MirrorApp, so no fast path."""

    def __init__(self, app: MirrorApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class Conn:
    """One keep-alive connection that reads whole responses (the Date header left out: it
    may tick between two of them)."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self, head: bool = False) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            assert self._more(), self.buf
        raw_head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = raw_head.split(b"\r\n")
        fields = [line.split(b": ", 1) for line in lines[1:]]
        length = int(dict((k.lower(), v) for k, v in fields).get(b"content-length", b"0"))
        status = int(lines[0].split()[1])
        size = 0 if head or status == 304 else length
        while len(self.buf) < size:
            assert self._more()
        body, self.buf = self.buf[:size], self.buf[size:]
        kept = [line for line in lines if not line.lower().startswith(b"date: ")]
        return b"\r\n".join(kept) + b"\r\n\r\n" + body

    def closed(self) -> bool:
        """The server closed the connection (and sent nothing more)."""
        return not self._more() and not self.buf

    def ask(self, request: bytes) -> bytes:
        self.send(request)
        return self.response(head=request.startswith(b"HEAD "))


def req(method: str, target: str, *headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: x", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


class Pair:
    """The same app served with the fast path and without."""

    def __init__(self, stack: ExitStack, config: ServeConfig, app: MirrorApp) -> None:
        self.app = app
        self.fast_base = stack.enter_context(run_mirror(config, app))
        self.plain_base = stack.enter_context(run_mirror(config, Wrapped(app)))
        self.fast = Conn(self.fast_base)
        self.plain = Conn(self.plain_base)
        stack.callback(self.fast.close)
        stack.callback(self.plain.close)

    def once(self, base: str, request: bytes) -> bytes:
        """The answer to a request on a connection of its own, which the server closes."""
        conn = Conn(base)
        try:
            got = conn.ask(request)
            assert conn.closed()
            return got
        finally:
            conn.close()

    def same(self, request: bytes, fast: bool = True) -> bytes:
        """The request to both; the answers equal; the fast path taken iff `fast`."""
        self.plain.ask(request)  # held from here on (and fresh: the clock is the test's)
        expected = self.plain.ask(request)
        before = self.app.fast_answers
        got = self.fast.ask(request)
        assert got == expected
        assert self.app.fast_answers == before + (1 if fast else 0), request
        return got


@pytest.fixture
def pair(synced: Synced) -> Iterator[Any]:
    with ExitStack() as stack:

        def make(**kw: Any) -> Pair:
            config = ServeConfig(root=synced.root, **kw)
            return Pair(stack, config, MirrorApp(config, clock=Clock()))

        yield make


def _etag(response: bytes) -> str:
    found = re.search(rb"\r\netag: (\S+)\r\n", response)
    assert found is not None
    return found.group(1).decode()


def test_fast_answers_are_the_asgi_answers(synced: Synced, pair: Any) -> None:
    p = pair()
    json_page = p.same(req("GET", "/simple/", f"Accept: {JSON}"))
    assert json_page.startswith(b"HTTP/1.1 200 OK\r\n") and b"application/vnd.pypi" in json_page
    html = p.same(req("GET", "/simple/pkg0/"))
    assert b"content-type: text/html" in html and html.endswith(b"</html>\n")
    p.same(req("GET", f"/simple/pkg0/?format={JSON}"))
    head = p.same(req("HEAD", "/simple/pkg0/"))
    assert head.endswith(b"\r\n\r\n") and b"content-length: 0" not in head
    not_modified = p.same(req("GET", "/simple/pkg0/", f"If-None-Match: {_etag(html)}"))
    assert not_modified.startswith(b"HTTP/1.1 304 ")
    p.same(req("GET", "/simple/pkg0/", f'If-None-Match: "x", {_etag(html)}'))
    health = p.same(req("GET", "/health"))
    assert health.endswith(b'{"status": "ok"}')
    p.same(req("HEAD", "/health"))
    metadata = p.same(req("GET", f"/files/{synced.wheels[1].name}.metadata"))
    assert b"Metadata-Version" in metadata
    p.same(req("GET", "/files/.hidden"))
    p.same(req("DELETE", "/simple/"), fast=False)  # not GET or HEAD: the ASGI way


def test_auth_on_the_fast_path(pair: Any) -> None:
    p = pair(basic_auth=("ci", "pw"), token="t0k")
    ok = "Authorization: Basic " + base64.b64encode(b"ci:pw").decode()
    by_token = "Authorization: Basic " + base64.b64encode(b"anyone:t0k").decode()
    missing = p.same(req("GET", "/simple/pkg0/"))
    assert missing.startswith(b"HTTP/1.1 401 ") and b"www-authenticate" in missing
    assert p.same(req("HEAD", "/simple/")).endswith(b"\r\n\r\n")  # a 401 without its body
    assert p.same(req("GET", "/simple/", "Authorization: Basic eDp5")).startswith(b"HTTP/1.1 401")
    assert p.same(req("GET", "/simple/pkg0/", ok)).startswith(b"HTTP/1.1 200 ")
    assert p.same(req("GET", "/simple/pkg0/", by_token)).startswith(b"HTTP/1.1 200 ")
    assert p.same(req("GET", "/simple/pkg0/", "Authorization: Bearer t0k")).startswith(
        b"HTTP/1.1 200"
    )
    assert p.same(req("GET", "/health")).startswith(b"HTTP/1.1 200 ")  # no auth asked


def test_many_requests_on_one_connection(pair: Any) -> None:
    p = pair()
    page = req("GET", "/simple/pkg1/", f"Accept: {JSON}")
    expected = p.same(page)
    before = p.app.fast_answers
    for _ in range(300):
        assert p.fast.ask(page) == expected
    assert p.app.fast_answers == before + 300


def test_pipelined_requests_in_order_with_misses_among_them(synced: Synced, pair: Any) -> None:
    p = pair()
    wheel = f"/files/{synced.wheels[0].name}"
    requests = [
        req("GET", "/simple/pkg0/"),
        req("HEAD", "/simple/pkg0/"),
        req("GET", "/health"),
        req("GET", wheel, "Range: bytes=0-9"),  # a range: the ASGI way
        req("GET", "/simple/", f"Accept: {JSON}"),  # behind it: queued the ASGI way too
        req("GET", "/simple/pkg2/"),
        req("GET", "/simple/missing-project/"),
        req("GET", "/health"),
    ]
    expected = []
    for r in requests:
        p.plain.ask(r)  # held from here on
        expected.append(p.plain.ask(r))
    p.fast.ask(requests[0])
    before = p.app.fast_answers
    p.fast.send(b"".join(requests))
    got = [p.fast.response(head=r.startswith(b"HEAD ")) for r in requests]
    assert got == expected
    assert got[3].startswith(b"HTTP/1.1 206 ") and got[3].endswith(
        synced.wheels[0].read_bytes()[:10]
    )
    assert p.app.fast_answers >= before + 3  # those before the range at least
    # and one at a time afterwards: fast, then a range, then fast again
    for r in requests:
        assert p.fast.ask(r) == expected[requests.index(r)]
    assert p.fast.ask(req("GET", wheel, "Range: bytes=5-9")) == p.plain.ask(
        req("GET", wheel, "Range: bytes=5-9")
    )
    before = p.app.fast_answers
    assert p.fast.ask(requests[0]) == expected[0]
    assert p.app.fast_answers == before + 1


def test_connection_close_and_http_1_0_go_the_asgi_way(pair: Any) -> None:
    p = pair()
    p.same(req("GET", "/simple/pkg0/"))
    closing = req("GET", "/simple/pkg0/", "Connection: close")
    old = b"GET /simple/pkg0/ HTTP/1.0\r\nHost: x\r\n\r\n"
    before = p.app.fast_answers
    for request in (closing, old):
        got = p.once(p.fast_base, request)
        assert got == p.once(p.plain_base, request)
        assert got.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in got
    assert p.app.fast_answers == before


def test_a_page_due_for_revalidation_goes_the_asgi_way(pair: Any) -> None:
    p = pair()
    page = req("GET", "/simple/pkg0/")
    expected = p.same(page)
    clock = p.app.cache._clock
    clock.now += 3600  # due
    before = p.app.fast_answers
    assert p.fast.ask(page) == expected  # asked again: the ASGI way
    assert p.app.fast_answers == before
    assert p.fast.ask(page) == expected  # fresh again
    assert p.app.fast_answers == before + 1


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_fast_answers_are_logged_as_asgi_ones(pair: Any, log_format: str) -> None:
    p = pair(log_format=log_format)
    page = req("GET", "/simple/pkg0/?x=1", f"Accept: {JSON}")
    p.same(page)
    with captured_access() as records:
        before = p.app.fast_answers
        p.plain.ask(page)
        p.fast.ask(page)
        p.fast.ask(req("HEAD", "/health"))
        assert p.app.fast_answers == before + 2
        wait_for(records, 3)
    lines = [r.getMessage() for r in records]
    assert len(lines) == 3
    if log_format == "json":
        docs = [json.loads(line) for line in lines]
        for doc in docs:
            doc.pop("time"), doc.pop("duration_ms")
        assert docs[0] == docs[1]
        assert docs[0]["path"] == "/simple/pkg0/?x=1" and docs[0]["bytes"] > 0
        assert docs[2]["status"] == 200 and docs[2]["bytes"] == 0
    else:
        strip = [line.rsplit(" ", 1)[0] for line in lines]
        assert strip[0] == strip[1]
        assert strip[0].startswith('127.0.0.1 "GET /simple/pkg0/?x=1" 200 ')
        assert strip[2] == '127.0.0.1 "HEAD /health" 200 0'


def test_forwarded_client_is_logged_as_by_the_asgi_path(pair: Any) -> None:
    p = pair()
    page = req("GET", "/health", "X-Forwarded-For: 203.0.113.7")
    with captured_access() as records:
        p.plain.ask(page)
        before = p.app.fast_answers
        p.fast.ask(page)
        assert p.app.fast_answers == before + 1
        wait_for(records, 2)
    lines = [r.getMessage() for r in records]
    assert lines[0].startswith('203.0.113.7 "GET /health" 200 ')
    assert lines[1].startswith('203.0.113.7 "GET /health" 200 ')


def test_no_fast_path_for_other_apps(synced: Synced) -> None:
    config = ServeConfig(root=synced.root)
    app = MirrorApp(config)
    with run_mirror(config, Wrapped(app)) as base:
        conn = Conn(base)
        for _ in range(3):
            assert conn.ask(req("GET", "/simple/")).startswith(b"HTTP/1.1 200 ")
        conn.close()
    assert app.fast_answers == 0


def test_a_request_with_a_body_goes_the_asgi_way(pair: Any) -> None:
    p = pair()
    with_body = req("GET", "/simple/pkg0/", "Content-Length: 3") + b"abc"
    p.same(with_body, fast=False)


def test_a_big_page_on_the_fast_path(synced: Synced, pair: Any) -> None:
    folder = synced.root / "simple" / "big-one"
    folder.mkdir()
    (folder / "index.html").write_bytes(b"<html>" + b"<a>x</a>\n" * 40_000 + b"</html>\n")
    p = pair()
    got = p.same(req("GET", "/simple/big-one/"))
    assert got.endswith(b"</html>\n") and len(got) > 360_000
    p.same(req("HEAD", "/simple/big-one/"))

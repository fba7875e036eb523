from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import Synced
from wheelhouse.files import atomic_write
from wheelhouse.mirror.protocol import negotiate, parse_range
from wheelhouse.mirror.static_index import write_index
from wheelhouse.store.layout import Wheelhouse

JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)


@pytest.mark.parametrize(
    ("accept", "fmt", "expected"),
    [
        (None, None, "text/html; charset=utf-8"),
        ("", None, "text/html; charset=utf-8"),
        ("*/*", None, "text/html; charset=utf-8"),
        (PIP_ACCEPT, None, JSON),
        ("text/html", None, "text/html; charset=utf-8"),
        ("application/vnd.pypi.simple.v1+html", None, "application/vnd.pypi.simple.v1+html"),
        (
            "text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5",
            None,
            "text/html; charset=utf-8",
        ),
        ("application/vnd.pypi.simple.latest+json", None, JSON),
        ("text/plain", None, None),
        (JSON + ";q=0", None, None),
        ("text/html", JSON, JSON),
        (None, "text/html", "text/html; charset=utf-8"),
        (None, "bogus", None),
    ],
)
def test_negotiate(accept: str | None, fmt: str | None, expected: str | None) -> None:
    got = negotiate(accept, fmt)
    assert (got[1] if got else None) == expected


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, (0, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=3-100", 10, (3, 9)),
        ("bytes=10-", 10, False),
        ("bytes=-0", 10, False),
        ("bytes=0-1,3-4", 10, None),
        ("items=0-1", 10, None),
        ("bytes=5-2", 10, None),  # invalid (last < first): ignored, whole file
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_index_pages_and_negotiation(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root)
    with httpx.Client(base_url=base) as c:
        root = c.get("/simple/")
        assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
        assert 'href="pkg0/"' in root.text
        j = c.get("/simple/", headers={"Accept": PIP_ACCEPT})
        assert j.headers["content-type"] == JSON and j.headers["vary"] == "Accept"
        assert {p["name"] for p in j.json()["projects"]} == {"pkg0", "pkg1", "pkg2"}
        page = c.get("/simple/pkg1/", params={"format": JSON}).json()
        (f,) = page["files"]
        assert f["url"] == "../../files/" + synced.wheels[1].name
        assert f["requires-python"] == ">=3.7" and f["core-metadata"] == f["dist-info-metadata"]
        meta = c.get(f"/files/{synced.wheels[1].name}.metadata")
        assert meta.status_code == 200 and b"Name: pkg1" in meta.content
        assert c.get("/simple/pkg1/", headers={"Accept": "text/plain"}).status_code == 406
        redirect = c.get("/simple/PKG1")
        assert redirect.status_code == 301 and redirect.headers["location"] == "/simple/pkg1/"
        assert c.get("/simple/nothere/").status_code == 404
        assert c.get("/").status_code == 301
        page_html = c.get("/simple/pkg1/")
        again = c.get("/simple/pkg1/", headers={"If-None-Match": page_html.headers["etag"]})
        assert again.status_code == 304


def test_files_etag_range_head(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root)
    data = synced.wheels[0].read_bytes()
    url = f"/files/{synced.wheels[0].name}"
    with httpx.Client(base_url=base) as c:
        full = c.get(url)
        assert full.content == data and full.headers["accept-ranges"] == "bytes"
        etag = full.headers["etag"]
        assert c.get(url, headers={"If-None-Match": etag}).status_code == 304
        listed = f'"other", W/{etag}'
        assert c.get(url, headers={"If-None-Match": listed}).status_code == 304
        assert c.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
        part = c.get(url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == data[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
        tail = c.get(url, headers={"Range": "bytes=-5"})
        assert tail.content == data[-5:]
        stale = c.get(url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
        assert stale.status_code == 200 and stale.content == data
        bad = c.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(data)}"
        head = c.head(url)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(data)


def test_read_only_and_no_traversal(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root)
    with httpx.Client(base_url=base) as c:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            r = c.request(method, "/simple/")
            assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
        assert c.get("/health").json() == {"status": "ok"}
    host = urlsplit(base).netloc
    for raw in (
        "/files/..%2fwheelhouse.json",
        "/files/%2e%2e/wheelhouse.json",
        "/files/../wheelhouse.json",
        "/files/.wheelhouse-lock",
        "/simple/..%2f..%2fwheelhouse.json",
        "/simple/../wheelhouse.json",
        "/wheelhouse.json",
        "/files/",
    ):
        conn = http.client.HTTPConnection(host, timeout=5)
        conn.request("GET", raw)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status in (301, 404), (raw, resp.status)
        assert b'"files"' not in body
        conn.close()


def test_token_and_basic_auth(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root, token="s3cret")
    with httpx.Client(base_url=base) as c:
        assert c.get("/simple/").status_code == 401
        assert c.get("/health").status_code == 200
        assert c.get("/simple/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/simple/", auth=("anyone", "s3cret")).status_code == 200
        assert c.get("/simple/", auth=("anyone", "wrong")).status_code == 401
    base2 = mirror(synced.root, basic_auth=("ci", "pw"))
    with httpx.Client(base_url=base2) as c:
        r = c.get("/simple/")
        assert r.status_code == 401 and "Basic" in r.headers["www-authenticate"]
        assert c.get("/simple/", auth=("ci", "pw")).status_code == 200
        assert c.get("/simple/", auth=("other", "pw")).status_code == 401
        bad = "Basic " + base64.b64encode(b"\xff\xfe").decode()
        assert c.get("/simple/", headers={"Authorization": bad}).status_code == 401


def test_access_log(synced: Synced, mirror: Any) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("wheelhouse.access")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        base = mirror(synced.root, token="s3cret")
        httpx.get(f"{base}/simple/pkg0/", auth=("u", "s3cret"))
        deadline = time.monotonic() + 2  # the line is written just after the response
        while not records and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [r.getMessage() for r in records]
    assert any('"GET /simple/pkg0/" 200' in line for line in lines)
    assert not any("s3cret" in line for line in lines)


def test_hundred_concurrent_clients(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root)
    data = synced.wheels[2].read_bytes()

    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=20) as c:
            page = [c.get("/simple/pkg2/", headers={"Accept": PIP_ACCEPT}) for _ in range(100)]
            files = [c.get(f"/files/{synced.wheels[2].name}") for _ in range(100)]
            return await asyncio.gather(*page, *files)

    responses = asyncio.run(main())
    assert all(r.status_code == 200 for r in responses)
    assert all(r.content == data for r in responses[100:])
    assert json.loads(responses[0].content)["name"] == "pkg2"


def test_big_file_streams_and_replaced_file_is_fresh(tmp_path: Path, mirror: Any) -> None:
    wh = Wheelhouse(tmp_path / "wh")
    wh.create()
    write_index(wh, {})
    big = random.Random(7).randbytes(3_000_000)
    (wh.files / "big-1.0-py3-none-any.whl").write_bytes(big)
    small = wh.files / "small-1.0-py3-none-any.whl"
    small.write_bytes(b"one")
    base = mirror(wh.root, revalidate=0)  # every request asks the folder again
    with httpx.Client(base_url=base) as c:
        assert c.get("/files/big-1.0-py3-none-any.whl").content == big
        mid = c.get("/files/big-1.0-py3-none-any.whl", headers={"Range": "bytes=1000000-2500000"})
        assert mid.status_code == 206 and mid.content == big[1_000_000:2_500_001]
        assert c.get(f"/files/{small.name}").content == b"one"
        atomic_write(small, b"two!")  # replaced as sync replaces files: a rename
        assert c.get(f"/files/{small.name}").content == b"two!"
        (wh.files / "link.whl").symlink_to(wh.root / "simple" / "index.html")
        assert c.get("/files/link.whl").status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_several_workers(synced: Synced, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ}
    env.pop("WHEELHOUSE_SERVE_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wheelhouse", "serve", "--wheelhouse", str(synced.root),
         "--port", str(port), "--workers", "2", "--basic-auth", "ci:pw"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        with httpx.Client(base_url=base) as c:
            assert c.get("/simple/").status_code == 401
            for _ in range(10):
                assert c.get("/simple/pkg0/", auth=("ci", "pw")).status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert b'"GET /simple/pkg0/" 200' in out

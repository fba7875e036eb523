"""`serve` for operations: /health and /ready, JSON logs, the worker count, and the cache of
pages that is asked again about a page at most every `revalidate` seconds."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import Synced, run_mirror
from wheelhouse.errors import UsageError
from wheelhouse.files import atomic_write
from wheelhouse.logformat import JsonFormatter
from wheelhouse.mirror.catalog import parse_sync_stamp, render_sync_stamp
from wheelhouse.mirror.serve import MirrorApp, cpu_quota, default_workers
from wheelhouse.mirror.serveconfig import ServeConfig, serve_config
from wheelhouse.mirror.static_index import write_index
from wheelhouse.store.layout import Wheelhouse

JSON = "application/vnd.pypi.simple.v1+json"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def captured_access() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("wheelhouse.access")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def wait_for(records: list[logging.LogRecord], count: int) -> None:
    """Access lines are written just after each response went out."""
    deadline = time.monotonic() + 5
    while len(records) < count and time.monotonic() < deadline:
        time.sleep(0.01)


# -- /health and /ready -------------------------------------------------------------------


def test_sync_leaves_a_stamp_and_ready_reports_it(synced: Synced, mirror: Any) -> None:
    finished = parse_sync_stamp((synced.root / "last-sync.json").read_bytes())
    assert finished is not None
    assert abs((datetime.now(timezone.utc) - finished).total_seconds()) < 3600
    base = mirror(synced.root, token="s3cret", ready_max_age=3600)
    with httpx.Client(base_url=base) as c:
        assert c.get("/simple/").status_code == 401  # the index wants the token
        health = c.get("/health")  # these two do not
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = c.get("/ready")
        assert ready.status_code == 200, ready.text
        doc = ready.json()
        assert doc["status"] == "ready"
        assert doc["last_sync"] == finished.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert 0 <= doc["age_seconds"] < 3600
        assert ready.headers["content-type"] == "application/json"
        head = c.head("/ready")
        assert head.status_code == 200 and head.content == b""


def test_ready_fails_when_the_last_sync_is_too_old(synced: Synced, mirror: Any) -> None:
    old = datetime.now(timezone.utc) - timedelta(hours=3)
    atomic_write(synced.root / "last-sync.json", render_sync_stamp(old, 3))
    strict = mirror(synced.root, ready_max_age=3600)
    r = httpx.get(f"{strict}/ready")
    assert r.status_code == 503
    assert r.json()["status"] == "not ready"
    assert "longer than --ready-max-age 3600 s" in r.json()["reason"]
    assert httpx.get(f"{strict}/health").status_code == 200  # alive all the same
    assert httpx.get(f"{strict}/simple/pkg0/").status_code == 200  # and still serving
    lenient = mirror(synced.root)  # no --ready-max-age: any age will do
    r = httpx.get(f"{lenient}/ready")
    assert r.status_code == 200 and r.json()["age_seconds"] >= 3 * 3600 - 60


def test_ready_without_a_stamp_dates_the_index(tmp_path: Path, mirror: Any) -> None:
    wh = Wheelhouse(tmp_path / "wh")
    wh.create()
    write_index(wh, {})
    past = time.time() - 7200
    os.utime(wh.simple / "index.html", (past, past))
    r = httpx.get(f"{mirror(wh.root, ready_max_age=60)}/ready")
    assert r.status_code == 503 and "ago, longer than" in r.json()["reason"]
    assert httpx.get(f"{mirror(wh.root, ready_max_age=3 * 3600)}/ready").status_code == 200


def test_ready_fails_without_an_index_and_recovers_when_one_appears(
    tmp_path: Path, mirror: Any
) -> None:
    wh = Wheelhouse(tmp_path / "wh")
    wh.create()
    base = mirror(wh.root, revalidate=0)
    r = httpx.get(f"{base}/ready")
    assert r.status_code == 503
    assert r.json() == {"status": "not ready", "reason": "no index: simple/index.html is missing"}
    assert httpx.get(f"{base}/health").status_code == 200
    write_index(wh, {})
    assert httpx.get(f"{base}/ready").status_code == 200


# -- logs -------------------------------------------------------------------------------

HOSTILE = [
    '/simple/x\n1.2.3.4 - "GET /admin" 200',
    '/simple/"quoted"\\back/',
    "/files/\x00\x1b[31mred\x7f",
    "/simple/caf\u00e9/\u202eevil",
]


def test_json_access_log_lines(synced: Synced) -> None:
    config = ServeConfig(root=synced.root, basic_auth=("ci", "pa55word"), log_format="json")
    with captured_access() as records, run_mirror(config) as base:
        host = base.removeprefix("http://")
        httpx.get(f"{base}/simple/pkg0/", params={"format": JSON}, auth=("ci", "pa55word"))
        for path in HOSTILE:
            with socket.create_connection(tuple(host.split(":")), timeout=5) as sock:  # type: ignore[arg-type]
                raw = quote(path, safe="/").encode()  # the app sees it decoded
                auth = b"Authorization: Basic Y2k6cGE1NXdvcmQ=\r\n"
                sock.sendall(b"GET " + raw + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
                sock.recv(65536)
        wait_for(records, 1 + len(HOSTILE))
    lines = [r.getMessage() for r in records]
    assert len(lines) == 1 + len(HOSTILE)
    docs = []
    for line in lines:
        assert "\n" not in line and line.isascii() and line.isprintable()
        assert "pa55word" not in line and "Y2k6" not in line
        docs.append(json.loads(line))
    first = docs[0]
    assert set(first) == {"time", "client", "method", "path", "status", "bytes", "duration_ms"}
    assert first["method"] == "GET" and first["status"] == 200 and first["bytes"] > 0
    assert first["path"].startswith("/simple/pkg0/?format=application")
    assert first["client"] == "127.0.0.1" and first["duration_ms"] >= 0
    assert datetime.fromisoformat(first["time"].replace("Z", "+00:00")).tzinfo is not None
    for doc in docs[1:]:
        assert doc["status"] in (301, 404), doc
        assert all(ord(ch) > 0x20 and ch not in '"\\' for ch in doc["path"]), doc


def test_text_access_log_unchanged(synced: Synced, mirror: Any) -> None:
    with captured_access() as records:
        base = mirror(synced.root)
        httpx.get(f"{base}/simple/pkg0/")
        wait_for(records, 1)
    line = records[0].getMessage()
    assert line.startswith('127.0.0.1 "GET /simple/pkg0/" 200 ') and line.endswith("ms")


def test_json_formatter_for_the_tools_own_lines() -> None:
    record = logging.LogRecord(
        "wheelhouse", logging.WARNING, __file__, 1, "a\nb %s", ("\x1b",), None
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line and line.isascii()
    doc = json.loads(line)
    assert doc["message"] == "a\nb \x1b" and doc["level"] == "warning"
    assert doc["logger"] == "wheelhouse" and doc["time"].endswith("Z")
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_default_workers_and_json_logs_of_the_command(synced: Synced, tmp_path: Path) -> None:
    """`serve` without --workers starts one worker per CPU it may use; with --log-format
    json every line it writes (uvicorn's, the tool's, the access log) is a JSON object."""
    quota = cpu_quota(Path("/sys/fs/cgroup"))
    cpus = len(os.sched_getaffinity(0))
    assert default_workers() == (cpus if quota is None else max(1, min(cpus, math.ceil(quota))))
    port = _free_port()
    err = tmp_path / "stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHEELHOUSE_SERVE_")}
    cmd = [sys.executable, "-m", "wheelhouse", "serve", "--wheelhouse", str(synced.root),
           "--port", str(port), "--log-format", "json", "--token", "tok"]  # fmt: skip
    with err.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, err.read_text()
            time.sleep(0.1)
        for _ in range(4):
            assert httpx.get(f"{base}/simple/pkg1/", auth=("u", "tok")).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [line for line in err.read_text().splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]  # every line is JSON
    started = [d for d in docs if str(d.get("message", "")).startswith("Started server process")]
    assert len(started) == default_workers(), lines
    assert any(d.get("message", "").startswith("serving ") for d in docs), lines
    access = [d for d in docs if d.get("path") == "/simple/pkg1/"]
    assert len(access) == 4 and all(d["status"] == 200 for d in access)
    assert "tok" not in err.read_text().replace("token", "")


# -- the cache of pages -------------------------------------------------------------------


def test_a_changed_page_is_seen_after_the_revalidation_interval(
    synced: Synced, tmp_path: Path
) -> None:
    clock = Clock()
    app = MirrorApp(ServeConfig(root=synced.root, revalidate=5.0), clock=clock)
    page = synced.root / "simple" / "pkg0" / "index.html"
    with run_mirror(app.config, app) as base, httpx.Client(base_url=base) as c:
        first = c.get("/simple/pkg0/")
        assert first.status_code == 200
        etag = first.headers["etag"]
        atomic_write(page, first.text.replace("pkg0", "pkg0-changed"))
        clock.now += 4.9  # within the interval: the page held is answered, nothing asked
        again = c.get("/simple/pkg0/", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["etag"] == etag
        assert "pkg0-changed" not in c.get("/simple/pkg0/").text
        clock.now += 0.2  # due: asked again, the new page with a new ETag
        fresh = c.get("/simple/pkg0/", headers={"If-None-Match": etag})
        assert fresh.status_code == 200 and "pkg0-changed" in fresh.text
        assert fresh.headers["etag"] != etag
        new_etag = fresh.headers["etag"]
        assert c.get("/simple/pkg0/", headers={"If-None-Match": new_etag}).status_code == 304
        # the JSON page is held apart from the HTML one
        assert c.get("/simple/pkg0/", headers={"Accept": JSON}).json()["name"] == "pkg0"
        # a project that appears and one that goes: seen once the interval has passed
        assert c.get("/simple/newpkg/").status_code == 404
        assert c.get("/simple/pkg1/").status_code == 200
        shutil.copytree(synced.root / "simple" / "pkg1", synced.root / "simple" / "newpkg")
        assert c.get("/simple/newpkg/").status_code == 404  # its absence is held too
        shutil.rmtree(synced.root / "simple" / "pkg1")
        assert c.get("/simple/pkg1/").status_code == 200  # held
        clock.now += 5.1
        assert c.get("/simple/pkg1/").status_code == 404
        assert c.get("/simple/newpkg/").status_code == 200


def test_replicas_reading_the_same_page_send_the_same_etag(synced: Synced, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(synced.root, copy)  # other inodes and times, the same bytes
    etags = []
    for root in (synced.root, copy):
        with run_mirror(ServeConfig(root=root)) as base:
            etags.append(
                httpx.get(f"{base}/simple/pkg2/", headers={"Accept": JSON}).headers["etag"]
            )
    assert etags[0] == etags[1]


def test_concurrent_misses_of_one_page_read_it_once(synced: Synced) -> None:
    import asyncio

    from wheelhouse.mirror.servecache import LocalSource, ObjectCache

    reads: list[str] = []

    class Counting(LocalSource):
        async def fetch(self, key: str, known_etag: str | None, limit: int) -> Any:
            reads.append(key)
            await asyncio.sleep(0.01)
            return await super().fetch(key, known_etag, limit)

    async def main() -> list[Any]:
        cache = ObjectCache(Counting(synced.root), lambda key, etag: [])
        return await asyncio.gather(
            *(cache.get("simple/pkg0/index.html", 1 << 20) for _ in range(20))
        )

    got = asyncio.run(main())
    assert reads == ["simple/pkg0/index.html"]
    assert len({id(g) for g in got}) == 1 and b"pkg0" in got[0].data


def test_the_cache_stays_within_its_budget(tmp_path: Path) -> None:
    import asyncio

    from wheelhouse.mirror.servecache import LocalSource, ObjectCache

    wh = Wheelhouse(tmp_path / "wh")
    wh.create()
    for i in range(40):
        (wh.files / f"f{i}.whl").write_bytes(bytes(1000))

    async def main() -> ObjectCache:
        cache = ObjectCache(LocalSource(wh.root), lambda key, etag: [], budget=10_000)
        for i in range(40):
            assert (await cache.get(f"files/f{i}.whl", 1 << 20)) is not None
        return cache

    cache = asyncio.run(main())
    held = [k for k in (f"files/f{i}.whl" for i in range(40)) if cache.fresh(k) is not None]
    assert 0 < len(held) <= 10 and "files/f39.whl" in held


@pytest.mark.parametrize(
    "key",
    [
        "../wheelhouse.json",
        "simple/../wheelhouse.json",
        "files/",
        ".wheelhouse-lock/x",
        "simple//index.html",
    ],
)
def test_local_source_refuses_keys_that_leave_their_folder(synced: Synced, key: str) -> None:
    import asyncio

    from wheelhouse.mirror.servecache import LocalSource

    assert asyncio.run(LocalSource(synced.root).fetch(key, None, 1 << 20)) is None


def test_access_lines_are_written_a_batch_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import io

    from wheelhouse.mirror.serve import FLUSH_BYTES, BatchedStderr

    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    handler = BatchedStderr()
    handler.setFormatter(logging.Formatter("%(message)s"))

    def record(text: str) -> logging.LogRecord:
        return logging.LogRecord("wheelhouse.access", logging.INFO, "", 0, text, (), None)

    async def main() -> None:
        for i in range(3):
            handler.handle(record(f"line {i}"))
        assert out.getvalue() == ""  # held until the loop runs the flush
        deadline = time.monotonic() + 10
        while not out.getvalue() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert out.getvalue() == "line 0\nline 1\nline 2\n"
        handler.handle(record("x" * FLUSH_BYTES))  # a full batch goes at once
        assert out.getvalue().endswith("x\n")
        handler.handle(record("last"))
        handler.close()  # and what is left, at shutdown

    asyncio.run(main())
    assert out.getvalue().endswith("x\nlast\n")
    handler.handle(record("outside a loop"))
    assert out.getvalue().endswith("outside a loop\n")


@pytest.mark.parametrize("value", ["0", "-0", "-5", "nan", "inf", "soon"])
def test_ready_max_age_must_be_positive(
    value: str, synced: Synced, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 (or -0) would make /ready never answer 200: refused like any other bad age."""
    from wheelhouse.cli import main

    argv = ["serve", "--wheelhouse", str(synced.root), f"--ready-max-age={value}"]
    assert main(argv) == 2
    assert "positive number of seconds" in capsys.readouterr().err
    with pytest.raises(UsageError, match="positive number of seconds"):
        serve_config(synced.root, ready_max_age=0.0)


def test_blob_source_gives_up_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's storage client retries once with a short connect timeout (a sync's retries
    would hold every revalidation ~15 s while the storage is unreachable); a sync's keeps
    the longer ones."""
    from wheelhouse.mirror.serve import source_for
    from wheelhouse.mirror.servecache import StorageSource
    from wheelhouse.store.blob import BlobStorage
    from wheelhouse.store.location import open_wheelhouse

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    source = source_for("az://wheels/prod")
    assert isinstance(source, StorageSource) and isinstance(source.storage, BlobStorage)
    assert (source.storage._retries, source.storage._connection_timeout) == (1, 2)
    synced = open_wheelhouse("az://wheels/prod")
    assert isinstance(synced, BlobStorage)
    assert (synced._retries, synced._connection_timeout) == (3, 10)


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "250000 100000\n"}, 2.5),
        ({"cpu.max": "50000 100000\n"}, 0.5),
        ({"cpu.max": "garbage\n"}, None),
        ({"cpu.max": "0 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.0),
        ({}, None),
    ],
)
def test_workers_follow_the_cpu_quota(
    files: dict[str, str], quota: float | None, tmp_path: Path
) -> None:
    """A container limited to fewer CPUs than it sees (docker --cpus, a Kubernetes limit)
    starts as many workers as its quota allows, rounded up, at least one."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu_quota(tmp_path) == quota
    cpus = len(os.sched_getaffinity(0))
    expected = cpus if quota is None else max(1, min(cpus, math.ceil(quota)))
    assert default_workers(tmp_path) == expected


def test_ready_names_no_location_to_the_client(
    synced: Synced, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreadable wheelhouse makes /ready 503; the detail (which may name a path or the
    storage URL) goes to the log, not to the unauthenticated client."""
    from wheelhouse.errors import NetworkError
    from wheelhouse.mirror.servecache import LocalSource

    class Unreachable(LocalSource):
        async def fetch(self, key: str, known_etag: str | None, limit: int) -> Any:
            raise NetworkError("az://secret-container/prod: the storage account is unreachable")

    app = MirrorApp(ServeConfig(root=synced.root), source=Unreachable(synced.root))
    with caplog.at_level(logging.WARNING, "wheelhouse"), run_mirror(app.config, app) as base:
        r = httpx.get(f"{base}/ready")
    assert r.status_code == 503
    assert r.json() == {"status": "not ready", "reason": "wheelhouse unreadable (see the log)"}
    assert "secret-container" not in r.text
    assert any("secret-container" in rec.getMessage() for rec in caplog.records)

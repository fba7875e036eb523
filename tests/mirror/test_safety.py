"""Two syncs at once, and a kill at any point, never leave a wheelhouse that lies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.helpers import build_wheels, config_for, make_lock, upstream, write_pylock
from wheelhouse.mirror.sync import sync


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wheelhouse", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_syncs(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 20, size=50_000)
    url, state = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    wh = tmp_path / "wh"
    procs = [_cli("sync", str(lock), "--wheelhouse", str(wh)) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for w in wheels:
        assert (wh / "files" / w.name).read_bytes() == w.read_bytes()
        gets = [r for r in state.requests if r[1] == f"/files/{w.name}"]
        assert len(gets) == 1  # the second sync waited, then found it verified
    assert list((wh / ".partial").iterdir()) == []


@contextmanager
def slow_upstream(data: bytes, name: str) -> Iterator[str]:
    """Serves one file 16 KiB at a time, slowly, so a sync can be killed mid-file."""

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            start = 0
            m = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if m:
                start = int(m.group(1))
            body = data[start:]
            self.send_response(206 if m else 200)
            if m:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(0, len(body), 16384):
                    self.wfile.write(body[i : i + 16384])
                    self.wfile.flush()
                    time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_kill_mid_download_leaves_nothing_that_looks_complete(tmp_path: Path, serve: Any) -> None:
    (wheel,) = build_wheels(tmp_path / "w", 1, size=2_000_000)
    data = wheel.read_bytes()
    wh = tmp_path / "wh"
    with slow_upstream(data, wheel.name) as slow:
        lock = write_pylock(tmp_path / "pylock.slow.toml", make_lock([wheel], slow))
        proc = _cli("sync", str(lock), "--wheelhouse", str(wh))
        deadline = time.monotonic() + 30
        parts: list[Path] = []
        while time.monotonic() < deadline:
            parts = list((wh / ".partial").glob("*.part")) if (wh / ".partial").is_dir() else []
            if parts and parts[0].stat().st_size > 100_000:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert parts, "the download never started"
    assert not (wh / "files" / wheel.name).exists()
    assert list((wh / "files").iterdir()) == []
    assert not (wh / "simple" / "pkg0").exists()
    kept = parts[0].stat().st_size
    assert 0 < kept < len(data)
    # the next sync resumes where the killed one stopped
    url, state = serve(upstream(tmp_path, [wheel]).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock([wheel], url))
    report = sync([lock], wh, config=config_for(url))
    assert report.ok, report.failed
    (req,) = [h for m, p, h in state.requests if p == f"/files/{wheel.name}"]
    assert {k.lower(): v for k, v in req.items()}["range"] == f"bytes={kept}-"
    assert (wh / "files" / wheel.name).read_bytes() == data
    assert list((wh / ".partial").iterdir()) == []

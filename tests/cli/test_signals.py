"""SIGTERM (how Kubernetes and systemd stop a job) stops `sync` as Ctrl-C does: the clean-up
runs (the writer lock is free for the next run at once), `--json` prints its summary, and
the exit code is 143."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import build_wheels, make_lock, write_pylock
from wheelhouse.store.layout import Wheelhouse, writer_lock
from wheelhouse.store.storage import open_wheelhouse


@pytest.fixture
def stalling_server() -> Iterator[tuple[str, threading.Event]]:
    """A loopback HTTP server that accepts, reads the request and never answers: its base
    URL, and an event set once a request arrived."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    asked = threading.Event()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            held.append(conn)
            asked.set()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", asked
    stop.set()
    t.join()
    for c in held:
        c.close()
    listener.close()


def _lock_is_free(where: str | Path) -> bool:
    if isinstance(where, Path):
        with writer_lock(Wheelhouse(where), wait=0):
            return True

    async def take() -> bool:
        s = open_wheelhouse(where)
        try:
            async with s.writer_lock(wait=0):
                return True
        finally:
            await s.close()

    return asyncio.run(take())


@pytest.mark.parametrize("kind", ["folder", "az"])
def test_sigterm_stops_a_stalled_sync_cleanly(
    kind: str,
    tmp_path: Path,
    stalling_server: tuple[str, threading.Event],
    request: pytest.FixtureRequest,
) -> None:
    url, asked = stalling_server
    wheels = build_wheels(tmp_path / "w", 1)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    where: str | Path = tmp_path / "wh"
    if kind == "az":
        where = f"az://{request.getfixturevalue('container')}/wh"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "wheelhouse", "sync", str(lock)),
            *("--wheelhouse", str(where), "--json", "--no-index", "--timeout", "120"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        text=True,
    )
    try:
        assert asked.wait(60), proc.stderr.read() if proc.poll() is not None else "no request"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["exit_code"] == 143 and summary["ok"] is False
    assert "SIGTERM" in summary["error"]
    assert _lock_is_free(where)  # released, not left for the lease to run out

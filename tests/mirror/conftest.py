"""A real `serve` on a free loopback port, and a synced wheelhouse to serve."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.mirror.helpers import build_wheels, config_for, make_lock, upstream, write_pylock
from wheelhouse.mirror.serve import MirrorApp, ServeConfig
from wheelhouse.mirror.sync import sync
from wheelhouse.resolver.lockfile import Lock


@contextmanager
def run_mirror(config: ServeConfig) -> Iterator[str]:
    """Start uvicorn with the app in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(MirrorApp(config), log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("mirror server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Synced:
    root: Path  # the wheelhouse
    lock: Lock
    wheels: list[Path]


@pytest.fixture
def synced(tmp_path: Path, serve: Any) -> Synced:
    """A wheelhouse holding three small wheels synced from a loopback upstream."""
    wheels = build_wheels(tmp_path / "w", 3)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = make_lock(wheels, url)
    report = sync(
        [write_pylock(tmp_path / "pylock.toml", lock)], tmp_path / "wh", config=config_for(url)
    )
    assert report.ok, report.failed
    return Synced(tmp_path / "wh", lock, wheels)


@pytest.fixture
def mirror() -> Iterator[Callable[..., str]]:
    """mirror(root, token=..., basic_auth=...) -> base URL of a running `serve`."""
    stack: list[Any] = []

    def start(root: Path, **kw: Any) -> str:
        cm = run_mirror(ServeConfig(root=root, **kw))
        stack.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)

"""Fixtures for the mirror tests: wheelhouses and locks made without the resolver
(install/pack/verify), and a real `serve` on a free loopback port (sync/serve)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.mirror.helpers import build_wheels, config_for, make_lock, upstream, write_pylock
from wheelhouse.mirror.serve import MirrorApp
from wheelhouse.mirror.serveconfig import ServeConfig
from wheelhouse.mirror.sync import sync
from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
from wheelhouse.model.profile import bare_profile
from wheelhouse.model.pylock import render_pylock
from wheelhouse.model.requirements_lock import render_requirements

PLATFORM = "manylinux_2_27_x86_64"


def target_for(python: str = "3.7.16") -> LockTarget:
    return LockTarget.from_profile(bare_profile(python, PLATFORM))


def lock_of(wheels: Sequence[Path], python: str = "3.7.16", named: bool = True) -> Lock:
    """A lock pinning exactly these wheel files (hashes taken from the files)."""
    pins = []
    for path in wheels:
        name, version, _, _ = parse_wheel_filename(path.name)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        locked = LockedFile(filename=path.name if named else "", hashes={"sha256": digest})
        pins.append(Pin(name=canonicalize_name(name), version=str(version), files=(locked,)))
    return Lock(target=target_for(python), pins=tuple(pins), input_digest="test-digest")


@dataclass
class House:
    """A wheelhouse folder plus the helpers to lock it."""

    root: Path

    @property
    def files(self) -> Path:
        return self.root / "files"

    def add(self, wheel: Path) -> Path:
        self.files.mkdir(parents=True, exist_ok=True)
        dest = self.files / wheel.name
        shutil.copyfile(wheel, dest)
        return dest

    def write_lock(self, lock: Lock, name: str = "pylock.toml") -> Path:
        path = self.root.parent / name
        text = render_pylock(lock) if name.endswith(".toml") else render_requirements(lock)
        path.write_text(text)
        return path


@pytest.fixture
def house(tmp_path: Path) -> House:
    h = House(tmp_path / "wh")
    h.files.mkdir(parents=True)
    return h


def tree_state(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (to assert 'unchanged')."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def rewrite_member(wheel: Path, member: str, data: bytes) -> Path:
    """Replace one member's bytes in a wheel, leaving its RECORD as it was."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, content in items:
            zf.writestr(info, data if info.filename == member else content)
    return wheel


def siblings(path: Path) -> list[str]:
    """Names beside path (to see that no staging folder was left behind)."""
    return sorted(p.name for p in path.parent.iterdir())


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

"""Wheelhouses, locks and upstreams for the tests, built without the resolver; and a real
`serve` on a free loopback port."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.mirror.serve import MirrorApp, server_options
from wheelhouse.mirror.serveconfig import ServeConfig
from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
from wheelhouse.model.profile import bare_profile
from wheelhouse.model.pylock import render_pylock
from wheelhouse.model.requirements_lock import render_requirements
from wheelhouse.net.pipconfig import IndexConfig


def isolate(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """Turn off pip's configuration, netrc, proxies, the shared cache and any Azure storage
    account (also for fixtures wider than one test, which run before the autouse one)."""
    for name in list(os.environ):
        if name.startswith(("PIP_", "UV_", "WHEELHOUSE_", "AZURE_STORAGE_")) or name in (
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "ALL_PROXY",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("NETRC", os.devnull)
    monkeypatch.setenv("WHEELHOUSE_CACHE_DIR", str(cache))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


TARGET = LockTarget.from_profile(bare_profile("3.7", "manylinux2014_x86_64"))
UPLOADED = datetime(2021, 1, 1, tzinfo=timezone.utc)


def build_wheels(folder: Path, count: int, size: int = 0, prefix: str = "pkg") -> list[Path]:
    """`count` small pure wheels (each with `size` extra bytes of data)."""
    wheels = []
    for i in range(count):
        name = f"{prefix}{i}"
        files: dict[str, bytes | str] = {f"{name}/__init__.py": f"VALUE = {i}\n"}
        if size:
            files[f"{name}/blob.bin"] = random.Random(i).randbytes(size)
        wheels.append(make_wheel(folder, name, "1.0", requires_python=">=3.7", files=files))
    return wheels


def upstream(tmp_path: Path, wheels: Sequence[Path]) -> SimpleIndex:
    idx = SimpleIndex(root=tmp_path / "upstream")
    idx.add_all(wheels, requires_python=">=3.7")
    idx.write()
    return idx


def make_lock(wheels: Sequence[Path], base_url: str | None) -> Lock:
    """A lock pinning each wheel; with base_url its files carry upstream URLs."""
    pins = []
    for w in wheels:
        name, version = w.name.split("-")[:2]
        sha = hashlib.sha256(w.read_bytes()).hexdigest()
        pins.append(
            Pin(
                name=canonicalize_name(name),
                version=version,
                files=(
                    LockedFile(
                        filename=w.name,
                        hashes={"sha256": sha},
                        url=f"{base_url}/files/{w.name}" if base_url else None,
                        size=w.stat().st_size,
                        upload_time=UPLOADED,
                    ),
                ),
                requires_python=">=3.7",
            )
        )
    return Lock(target=TARGET, pins=tuple(pins), input_digest="test-digest")


def write_pylock(path: Path, lock: Lock) -> Path:
    path.write_text(render_pylock(lock), encoding="utf-8")
    return path


def write_requirements(path: Path, lock: Lock) -> Path:
    path.write_text(render_requirements(lock), encoding="utf-8")
    return path


def config_for(base_url: str, retries: int = 3, timeout: float = 10.0) -> IndexConfig:
    return IndexConfig(index_url=f"{base_url}/simple", retries=retries, timeout=timeout)


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
def run_mirror(config: ServeConfig, app: Any = None) -> Iterator[str]:
    """Start uvicorn with the app (a MirrorApp, or any ASGI app; by default one made of
    `config`) in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app or MirrorApp(config), log_level="warning", **server_options())
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

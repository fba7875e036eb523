"""Locks and upstreams for the mirror tests, built without the resolver."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
from wheelhouse.model.profile import bare_profile
from wheelhouse.model.pylock import render_pylock
from wheelhouse.model.requirements_lock import render_requirements
from wheelhouse.net.pipconfig import IndexConfig

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

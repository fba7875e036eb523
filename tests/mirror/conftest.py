"""Wheelhouses and locks for the mirror tests, made without the resolver."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelhouse.resolver.lockfile import (
    Lock,
    LockedFile,
    LockTarget,
    Pin,
    render_pylock,
    render_requirements,
)
from wheelhouse.resolver.profile import bare_profile

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

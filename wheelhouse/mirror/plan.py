"""Which wheelhouse file installs each pin of a lock: found, hashed, fitted to the target.

The plan is made before anything is written, and lists every problem at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from wheelhouse.errors import InstallError, IntegrityError
from wheelhouse.files import sha256_file
from wheelhouse.resolver.lockfile import Lock, Pin, wheel_fits

FILES_DIR = "files"


@dataclass(frozen=True)
class PlannedWheel:
    """One wheel to install: the pin it satisfies and the checked file."""

    name: NormalizedName
    version: str
    path: Path
    sha256: str
    size: int

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def plan_install(lock: Lock, wheelhouse: Path) -> tuple[PlannedWheel, ...]:
    """The wheel of every to-install pin, hash-checked; raise listing all that are not fine."""
    files = Path(wheelhouse) / FILES_DIR
    if not files.is_dir():
        raise InstallError(f"{wheelhouse} is not a wheelhouse (no {FILES_DIR}/ folder)")
    listing = sorted(p.name for p in files.iterdir() if p.is_file())
    planned: list[PlannedWheel] = []
    problems: list[str] = []
    integrity = False
    for pin in sorted(lock.to_install(), key=lambda p: p.name):
        try:
            planned.append(_plan_pin(pin, files, listing, lock.target.tags))
        except IntegrityError as exc:
            problems.append(str(exc))
            integrity = True
        except InstallError as exc:
            problems.append(str(exc))
    if problems:
        text = "cannot install the lock; nothing was changed:\n  " + "\n  ".join(problems)
        raise IntegrityError(text) if integrity else InstallError(text)
    return tuple(planned)


def _plan_pin(pin: Pin, files: Path, listing: Sequence[str], tags: Sequence[str]) -> PlannedWheel:
    label = f"{pin.name} {pin.version}"
    wanted = {f.sha256 for f in pin.files}
    named = [f.filename for f in pin.files if f.filename]
    if named:
        candidates = [n for n in named if n in listing]
        if not candidates:
            raise InstallError(f"{label}: none of {', '.join(named)} is in {files}")
    else:  # a plain requirements lock: find the wheel by name and version
        candidates = [n for n in listing if _is_wheel_of(n, pin.name, pin.version)]
        if not candidates:
            raise InstallError(f"{label}: no wheel of it in {files}")
    wheels = [n for n in candidates if n.endswith(".whl")]
    if not wheels:
        raise InstallError(
            f"{label}: only {', '.join(candidates)} is locked; install needs a wheel "
            "(build one for the target and lock it)"
        )
    fitting = [n for n in wheels if wheel_fits(n, tags)]
    if not fitting:
        raise InstallError(
            f"{label}: {', '.join(wheels)} does not fit the target's tags "
            f"(best: {tags[0] if tags else '?'})"
        )
    mismatched = []
    for name in fitting:
        path = files / name
        digest = sha256_file(path)
        if digest in wanted:
            return PlannedWheel(pin.name, pin.version, path, digest, path.stat().st_size)
        mismatched.append(f"{name} has sha256:{digest}")
    raise IntegrityError(
        f"{label}: hash mismatch against the lock: {'; '.join(mismatched)}, the lock allows "
        + ", ".join(f"sha256:{h}" for h in sorted(wanted))
    )


def _is_wheel_of(filename: str, name: str, version: str) -> bool:
    try:
        wname, wversion, _, _ = parse_wheel_filename(filename)
        return wname == canonicalize_name(name) and wversion == Version(version)
    except (InvalidWheelFilename, InvalidVersion):
        return False

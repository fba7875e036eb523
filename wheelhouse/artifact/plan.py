"""Which wheelhouse file installs each pin of a lock: found, hashed, fitted to the target.

The plan is made before anything is written, and lists every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.errors import InstallError, IntegrityError
from wheelhouse.files import sha256_file
from wheelhouse.model.filenames import parse_filename, wheel_fits
from wheelhouse.model.lock import Lock, Pin
from wheelhouse.store.layout import Wheelhouse


@dataclass(frozen=True)
class PlannedWheel:
    """One wheel to install: the pin it satisfies and the checked file."""

    name: NormalizedName
    version: str
    path: Path
    sha256: str  # "" until checked, where the plan left the hashing to the installer
    size: int
    allowed: frozenset[str] = frozenset()  # the lock's hashes, when sha256 is still ""

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def plan_install(
    lock: Lock, wheelhouse: Path, hash_later: bool = False
) -> tuple[PlannedWheel, ...]:
    """The wheel of every to-install pin, hash-checked; raise listing all that are not fine.

    `hash_later`: where a pin has exactly one fitting wheel, leave its hash check to the
    caller (`sha256` "", `allowed` the lock's hashes), who reads the file anyway and can
    check it in parallel with `check_hash`. Where several wheels fit, the hash picks one,
    so those are hashed here.
    """
    files = Wheelhouse(Path(wheelhouse)).files
    if not files.is_dir():
        raise InstallError(f"{wheelhouse} is not a wheelhouse (no {files.name}/ folder)")
    listing = sorted(p.name for p in files.iterdir() if p.is_file())
    planned: list[PlannedWheel] = []
    problems: list[str] = []
    integrity = False
    for pin in sorted(lock.to_install(), key=lambda p: p.name):
        try:
            planned.append(_plan_pin(pin, files, listing, lock.target.tags, hash_later))
        except IntegrityError as exc:
            problems.append(str(exc))
            integrity = True
        except InstallError as exc:
            problems.append(str(exc))
    if problems:
        text = "cannot install the lock; nothing was changed:\n  " + "\n  ".join(problems)
        raise IntegrityError(text) if integrity else InstallError(text)
    return tuple(planned)


def _plan_pin(
    pin: Pin, files: Path, listing: Sequence[str], tags: Sequence[str], hash_later: bool
) -> PlannedWheel:
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
    if hash_later and len(fitting) == 1:
        path = files / fitting[0]
        return PlannedWheel(pin.name, pin.version, path, "", path.stat().st_size, frozenset(wanted))
    mismatched = []
    for name in fitting:
        path = files / name
        digest = sha256_file(path)
        if digest in wanted:
            return PlannedWheel(pin.name, pin.version, path, digest, path.stat().st_size)
        mismatched.append(f"{name} has sha256:{digest}")
    raise _mismatch(label, mismatched, wanted)


def check_hash(wheel: PlannedWheel, digest: str) -> PlannedWheel:
    """The planned wheel with its hash, if `digest` (of its bytes) is one the lock allows."""
    if wheel.sha256:
        if digest != wheel.sha256:  # changed since the plan hashed it
            raise _mismatch(wheel.label, [f"{wheel.path.name} has sha256:{digest}"], {wheel.sha256})
        return wheel
    if digest not in wheel.allowed:
        raise _mismatch(wheel.label, [f"{wheel.path.name} has sha256:{digest}"], wheel.allowed)
    return replace(wheel, sha256=digest, allowed=frozenset())


def _mismatch(label: str, mismatched: Sequence[str], wanted: Iterable[str]) -> IntegrityError:
    return IntegrityError(
        f"{label}: hash mismatch against the lock: {'; '.join(mismatched)}, the lock allows "
        + ", ".join(f"sha256:{h}" for h in sorted(wanted))
    )


def _is_wheel_of(filename: str, name: str, version: str) -> bool:
    parsed = parse_filename(filename)
    return (
        parsed is not None
        and parsed.is_wheel
        and parsed.name == canonicalize_name(name)
        and parsed.has_version(version)
    )

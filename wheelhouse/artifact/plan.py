"""Which wheelhouse file installs each pin of a lock: found, hashed, fitted to the target.

The plan is made before anything is written, and lists every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.errors import InstallError, IntegrityError
from wheelhouse.files import sha256_file
from wheelhouse.model.filenames import parse_filename, wheel_fits
from wheelhouse.model.lock import Lock, Pin
from wheelhouse.store.layout import Wheelhouse
from wheelhouse.store.provenance import Provenance, built_wheels


@dataclass(frozen=True)
class PlannedWheel:
    """One wheel to install: the pin it satisfies and the checked file."""

    name: NormalizedName
    version: str
    path: Path
    sha256: str  # "" until checked, where the plan left the hashing to the installer
    size: int
    allowed: frozenset[str] = frozenset()  # the lock's hashes, when sha256 is still ""
    built_from: str = ""  # sha256 of the locked sdist this wheel was built from, if it was

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
    wh = Wheelhouse(Path(wheelhouse))
    files = wh.files
    if not files.is_dir():
        raise InstallError(f"{wheelhouse} is not a wheelhouse (no {files.name}/ folder)")
    built = built_wheels(wh) if any(p.from_sdist for p in lock.to_install()) else {}
    listing = sorted(p.name for p in files.iterdir() if p.is_file())
    planned: list[PlannedWheel] = []
    problems: list[str] = []
    integrity = False
    for pin in sorted(lock.to_install(), key=lambda p: p.name):
        try:
            if pin.from_sdist:
                planned.append(_plan_built(pin, files, built, lock))
                continue
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


def _plan_built(
    pin: Pin, files: Path, built: Mapping[str, tuple[str, Provenance]], lock: Lock
) -> PlannedWheel:
    """The wheel built from the pin's locked sdist, after checking its provenance: built
    from those very sdist bytes, by the target's Python, for its tags, unchanged since."""
    label = f"{pin.name} {pin.version}"
    sdist_hashes = {f.sha256 for f in pin.files}
    from_it = {n: v for n, v in built.items() if v[1].sdist_sha256 in sdist_hashes}
    if not from_it:
        raise InstallError(
            f"{label}: locked as the sdist {pin.files[0].filename}, and no wheel built from it "
            f"is in {files} (run wheelhouse sync --build-with PYTHON)"
        )
    minor = lock.target.python_minor
    fitting = sorted(
        n
        for n, (_, prov) in from_it.items()
        if prov.python_minor == minor
        and wheel_fits(n, lock.target.tags)
        and not prov.host_only
        and (files / n).is_file()
    )
    if not fitting:
        raise InstallError(
            f"{label}: the wheels built from its sdist ({', '.join(sorted(from_it))}) were "
            f"not built by Python {minor} for the target's tags, or are gone"
        )
    name = fitting[0]
    recorded, prov = from_it[name]
    digest = sha256_file(files / name)
    if digest != recorded:
        raise IntegrityError(
            f"{label}: {name} has sha256:{digest}, but the wheelhouse catalog recorded "
            f"sha256:{recorded} when it was built from {prov.sdist}"
        )
    size = (files / name).stat().st_size
    return PlannedWheel(
        pin.name, pin.version, files / name, digest, size, built_from=prov.sdist_sha256
    )


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

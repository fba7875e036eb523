"""`sync --build-with PYTHON`: every sdist a lock pins, built into a wheel for the target.

Each build runs with the target's own interpreter in an environment holding exactly the
sdist's locked build requirements, taken from the wheelhouse (nothing is fetched), with
SOURCE_DATE_EPOCH set. The wheel must fit the target: a pure-Python one always does; a
compiled one only where its tags are the target's. It goes into `files/` with its
provenance in the catalog, so the static index offers it and `install` can check it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from wheelhouse.errors import IntegrityError, UsageError
from wheelhouse.files import AtomicFile
from wheelhouse.mirror.catalog import FileRecord, record_for, verified
from wheelhouse.model.filenames import wheel_fits, wheel_tags
from wheelhouse.model.lock import Lock, Pin
from wheelhouse.sdists import (
    BuildError,
    build_epoch,
    build_system,
    build_wheel,
    parse_pyproject,
    sdist_members,
)
from wheelhouse.store.layout import Wheelhouse
from wheelhouse.store.provenance import Provenance

log = logging.getLogger("wheelhouse")


@dataclass(frozen=True)
class BuiltWheel:
    """One sdist built (or found built before) into one wheel."""

    sdist: str
    wheel: str
    sha256: str
    seconds: float  # 0.0 when an earlier build was reused
    reused: bool = False
    same_as_lock: bool | None = None  # the bytes `lock --build-with` built; None: it did not

    def to_dict(self) -> dict[str, object]:
        return {
            "sdist": self.sdist,
            "wheel": self.wheel,
            "sha256": self.sha256,
            "seconds": round(self.seconds, 3),
            "reused": self.reused,
            "same_as_lock": self.same_as_lock,
        }


def build_locked_sdists(
    wh: Wheelhouse, locks: Sequence[Lock], records: dict[str, FileRecord], python: str
) -> list[BuiltWheel]:
    """Build every sdist pin of `locks` not built before for its target's Python; `records`
    (the catalog) gains the new wheels. Raises on the first sdist that cannot be built."""
    out: dict[str, BuiltWheel] = {}
    for lock in locks:
        for pin in lock.to_install():
            if pin.from_sdist and pin.files[0].sha256 not in out:
                out[pin.files[0].sha256] = _one(wh, lock, pin, records, python)
    return list(out.values())


def _one(
    wh: Wheelhouse, lock: Lock, pin: Pin, records: dict[str, FileRecord], python: str
) -> BuiltWheel:
    sdist = _sdist(wh, pin, records)
    minor = lock.target.python_minor
    earlier = _earlier_build(wh, records, sdist.sha256, minor)
    if earlier is not None:
        return BuiltWheel(sdist.filename, earlier.filename, earlier.sha256, 0.0, reused=True)
    deps, build_requires = _build_requirements(wh, lock, pin)
    epoch = build_epoch(wh.file(sdist.filename))
    with tempfile.TemporaryDirectory(prefix=".build-", dir=wh.root) as tmp:
        built = build_wheel(wh.file(sdist.filename), python, minor, deps, Path(tmp), epoch)
        host_only = _check_fits(built.wheel.name, lock, pin, built.builder)
        provenance = Provenance(
            sdist=sdist.filename,
            sdist_sha256=sdist.sha256,
            builder=built.builder,
            python_version=built.python_version,
            backend=built.backend,
            build_requires=build_requires,
            source_date_epoch=epoch,
            network=not built.isolated_network,
            host_only=host_only,
        )
        record = _store(wh, built.wheel, records, provenance)
    log.info("built %s from %s in %.1fs", record.filename, sdist.filename, built.seconds)
    locked = pin.built_wheel
    if locked is not None and locked.sha256 != record.sha256:
        log.warning(
            "%s: not the bytes `lock --build-with` built (sha256:%s there, sha256:%s here): "
            "its build is not reproducible, and pip with hashes required will build the sdist "
            "itself instead of taking this wheel",
            record.filename,
            locked.sha256,
            record.sha256,
        )
    same = None if locked is None else locked.sha256 == record.sha256
    return BuiltWheel(sdist.filename, record.filename, record.sha256, built.seconds, False, same)


def _sdist(wh: Wheelhouse, pin: Pin, records: dict[str, FileRecord]) -> FileRecord:
    """The pin's sdist, present and verified against the lock."""
    locked = pin.files[0]
    rec = verified(wh, records, locked.filename)
    if rec is None:
        raise UsageError(f"{pin.name} {pin.version}: {locked.filename} is not in {wh.files}")
    if rec.sha256 not in {f.sha256 for f in pin.files}:
        raise IntegrityError(
            f"{locked.filename}: sha256:{rec.sha256} in the wheelhouse, the lock says "
            f"sha256:{locked.sha256}"
        )
    records[rec.filename] = rec
    return rec


def _earlier_build(
    wh: Wheelhouse, records: dict[str, FileRecord], sdist_sha256: str, minor: str
) -> FileRecord | None:
    """A wheel built before from the same sdist bytes for the same Python, still intact."""
    for rec in records.values():
        built = rec.built
        if built and built.sdist_sha256 == sdist_sha256 and built.python_minor == minor:
            again = verified(wh, records, rec.filename)
            if again is not None and again.sha256 == rec.sha256:
                return rec
    return None


def _build_requirements(wh: Wheelhouse, lock: Lock, pin: Pin) -> tuple[list[Path], tuple[str, ...]]:
    """The wheels of the pin's build environment, from the wheelhouse only: the build pins
    the lock names for it; for an image stand-in's lock (which pins the image's own set,
    setuptools and wheel among them, and names no build pins), the sdist's declared build
    requirements met by those pins."""
    wanted = pin.build_requires
    if not wanted and lock.stand_in:
        wanted = _met_by_lock(wh, lock, pin)
    by_key = {f"{p.name}=={p.version}": p for p in lock.to_sync()}
    paths, missing = [], []
    for key in wanted:
        build_pin = by_key.get(key)
        best = build_pin.best_file if build_pin else None
        path = wh.file(best.filename) if best and best.filename else None
        if path is None or not path.is_file():
            missing.append(key)
        else:
            paths.append(path)
    if missing:
        raise UsageError(
            f"{pin.name} {pin.version}: its build requirements {', '.join(missing)} are not in "
            f"{wh.files} (sync the lock's pylock.toml, which lists them)"
        )
    return paths, wanted


def _met_by_lock(wh: Wheelhouse, lock: Lock, pin: Pin) -> tuple[str, ...]:
    """The lock's own pins that meet the sdist's declared build requirements."""
    from packaging.requirements import Requirement

    sdist = wh.file(pin.files[0].filename)
    raw = sdist_members(sdist.read_bytes(), sdist.name, ["pyproject.toml"]).get("pyproject.toml")
    system = build_system(parse_pyproject(raw, sdist.name) if raw else None, sdist.name)
    env = {**lock.target.markers, "extra": ""}
    out, unmet = [], []
    for text in system.requires:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        found = [
            p
            for p in lock.to_sync()
            if p.name == canonicalize_name(req.name)
            and req.specifier.contains(p.version, prereleases=True)
            and not p.from_sdist
        ]
        if found:
            out.append(f"{found[0].name}=={found[0].version}")
        else:
            unmet.append(text)
    if unmet:
        raise UsageError(
            f"{sdist.name}: its build requirements {', '.join(unmet)} are not among the "
            "image's packages, so its stand-in cannot build it offline"
        )
    return tuple(out)


def _check_fits(filename: str, lock: Lock, pin: Pin, builder: str) -> bool:
    """A built wheel must install on the target: pure, or tagged for it; and a compiled one
    tagged plain `linux_*` (built against this host's C library) only where this host's
    glibc is no newer than the target's (or that was built inside the image, `docker:`).
    For an image stand-in's lock (which runs on this
    host) such a wheel is kept as host-only instead: True."""
    tags = wheel_tags(filename)
    where = f"{pin.name} {pin.version}: the build made {filename}"
    if not wheel_fits(filename, lock.target.tags):
        raise BuildError(f"{where} ({', '.join(tags)}), which does not fit the target")
    if all(t.endswith("-none-any") for t in tags) or not any("-linux_" in t for t in tags):
        return False
    if builder.startswith("docker:"):
        return False  # built inside the image, against its own glibc
    host, target = host_glibc(), target_glibc(lock.target.platforms)
    if host is not None and target is not None and host <= target:
        return False
    if lock.stand_in:
        log.warning(
            "%s: compiled against this host's glibc %s: kept for the image's stand-in only "
            "(not in the index, not installable on the image)",
            filename,
            _shown(host),
        )
        return True
    raise BuildError(
        f"{where}: compiled, and linked against this host's glibc "
        f"{_shown(host)}, newer than the target's {_shown(target)}: it may not load in "
        "the image. Build it inside the image instead (--build-with docker:IMAGE), or on "
        "a host whose glibc is no newer than the image's"
    )


def host_glibc() -> tuple[int, int] | None:
    """This host's glibc version, which a wheel built here links against."""
    text = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    match = re.match(r"glibc (\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def target_glibc(platforms: Sequence[str]) -> tuple[int, int] | None:
    """The newest glibc the target's platform tags promise (manylinux_X_Y, or the legacy
    aliases)."""
    legacy = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
    found = []
    for platform in platforms:
        match = re.match(r"manylinux_(\d+)_(\d+)_", platform)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
        found += [v for k, v in legacy.items() if platform.startswith(k + "_")]
    return max(found) if found else None


def _shown(version: tuple[int, int] | None) -> str:
    return f"{version[0]}.{version[1]}" if version else "(unknown)"


def _store(
    wh: Wheelhouse, wheel: Path, records: dict[str, FileRecord], provenance: Provenance
) -> FileRecord:
    """Move the built wheel into files/ (verified on the way) and record where it came from."""
    existing = records.get(wheel.name)
    if existing is not None and wh.file(wheel.name).is_file() and existing.built is None:
        raise IntegrityError(
            f"{wheel.name}: the wheelhouse already holds a downloaded file of that name; "
            "not replacing it with a local build"
        )
    with AtomicFile(wh.file(wheel.name)) as out, open(wheel, "rb") as src:
        while block := src.read(1 << 20):
            out.write(block)
        digest = out.hexdigest()
        out.commit()
    record = record_for(wh.file(wheel.name), digest, built=provenance)
    records[wheel.name] = record
    return record

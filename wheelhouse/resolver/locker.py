"""`lock`: requirements + Profile -> Lock files, written only when the inputs changed."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse import __version__
from wheelhouse.errors import UsageError
from wheelhouse.files import sha256_file
from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
from wheelhouse.model.lockfiles import lock_files_current, pylock_path_for, write_lock_files
from wheelhouse.model.profile import Profile
from wheelhouse.model.requirements import RequirementSet, read_requirements
from wheelhouse.net.cache import default_cache_dir
from wheelhouse.net.pipconfig import IndexConfig

if TYPE_CHECKING:
    import httpx

    from wheelhouse.net.pages import DistFile
    from wheelhouse.resolver.candidates import Options
    from wheelhouse.resolver.repository import IndexRepository
    from wheelhouse.resolver.resolve import Resolution, Resolved

log = logging.getLogger("wheelhouse")


@dataclass(frozen=True)
class LockRequest:
    requirement_files: Sequence[Path] = ()
    requirements: Sequence[str] = ()
    output: Path = Path("requirements.lock")
    pylock: Path | None = None
    exclude_newer: str | None = None
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    offline: bool = False
    # projects that may be locked as an sdist to build (":all:" for any); see `Options.sdists`
    allow_sdist: tuple[str, ...] = ()
    build_with: str | None = None  # the target's interpreter, for sdists without static metadata


@dataclass(frozen=True)
class LockOutcome:
    lock: Lock | None
    changed: bool
    output: Path
    pylock: Path
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)


def input_digest(
    reqs: RequirementSet,
    profile: Profile,
    config: IndexConfig,
    exclude_newer: str | None,
    allow_sdist: Sequence[str] = (),
) -> str:
    doc = {
        "wheelhouse": __version__,
        "requirements": sorted(reqs.lines),
        "profile": profile.digest(),
        "sources": config.fingerprint(),
        "exclude_newer": exclude_newer or "",
    }
    if allow_sdist:  # only then, so that the digests of existing locks stay as they were
        doc["allow_sdist"] = sorted(allow_sdist)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def lock(
    request: LockRequest,
    profile: Profile,
    config: IndexConfig,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LockOutcome:
    """Resolve for `profile` and write both lock files; a no-op if the inputs are unchanged."""
    started = time.perf_counter()
    pylock = request.pylock or pylock_path_for(request.output)
    reqs = read_requirements(
        request.requirement_files, request.requirements, profile, config.constraints
    )
    sdists = frozenset(_sdist_names(request.allow_sdist))
    digest = input_digest(reqs, profile, config, request.exclude_newer, sorted(sdists))
    for path in (request.output, pylock):
        if path.is_dir():
            raise UsageError(f"{path} is a folder: the lock files are written to file names")
    if lock_files_current(request.output, pylock, digest):
        return LockOutcome(None, False, request.output, pylock, time.perf_counter() - started)
    # Only now the network side: an unchanged lock never pays for importing it.
    from wheelhouse.net.cache import Cache
    from wheelhouse.resolver.candidates import Options, parse_cutoff
    from wheelhouse.resolver.repository import IndexRepository
    from wheelhouse.resolver.resolve import resolve

    cutoff = parse_cutoff(request.exclude_newer) if request.exclude_newer else None
    repo = IndexRepository(
        config, Cache(request.cache_dir), transport=transport, offline=request.offline
    )
    options = Options(
        exclude_newer=cutoff,
        constraints=reqs.constraints,
        sdists=sdists,
        build_with=request.build_with,
    )
    try:
        resolution = resolve(reqs.reqs, profile, repo, options)
        builds = _build_pins(repo, profile, options, resolution) if sdists else []
        wheels = _lock_builds(repo, profile, options, resolution) if builds else {}
        result = build_lock(resolution, profile, reqs, config, digest, request.exclude_newer)
        result = _with_builds(result, builds, wheels)
        stats = dict(repo.fetcher.stats)
    finally:
        repo.close()
    write_lock_files(result, request.output, pylock)
    return LockOutcome(result, True, request.output, pylock, time.perf_counter() - started, stats)


def _sdist_names(values: Sequence[str]) -> list[str]:
    from packaging.utils import canonicalize_name

    return [v if v == ":all:" else str(canonicalize_name(v)) for v in values]


def _build_pins(
    repo: IndexRepository, profile: Profile, options: Options, resolution: Resolution
) -> list[tuple[str, Resolution]]:
    """For each sdist the resolution locked: its build requirements, resolved."""
    from wheelhouse.resolver.builds import resolve_build_requirements

    return [
        (p.name, resolve_build_requirements(repo, profile, options, p.files[0]))
        for p in resolution.packages
        if p.files and not p.files[0].is_wheel and not p.from_image
    ]


def _lock_builds(
    repo: IndexRepository, profile: Profile, options: Options, resolution: Resolution
) -> dict[str, LockedFile]:
    """With `--build-with`: each locked sdist built now, for the wheel's hash."""
    from wheelhouse.resolver.builds import build_at_lock

    python = options.build_with
    if python is None:
        return {}
    return {
        p.name: build_at_lock(repo, profile, options, p.files[0], python).wheel
        for p in resolution.packages
        if p.files and not p.files[0].is_wheel and not p.from_image
    }


def _with_builds(
    result: Lock,
    builds: Sequence[tuple[str, Resolution]],
    wheels: Mapping[str, LockedFile],
) -> Lock:
    """The lock with the build pins, and each sdist pin naming its build environment (and
    the wheel the lock built from it, if it did)."""
    if not builds:
        return result
    env = {name: tuple(f"{p.name}=={p.version}" for p in r.packages) for name, r in builds}
    users: dict[tuple[str, str], list[str]] = {}
    first: dict[tuple[str, str], Resolved] = {}
    for name, r in builds:
        for p in r.packages:
            users.setdefault((p.name, p.version), []).append(name)
            first.setdefault((p.name, p.version), p)
    build_pins = [
        replace(_pin(first[key]), source="build", via=tuple(sorted(users[key])), image_version=None)
        for key in sorted(first)
    ]
    pins = [
        replace(p, build_requires=env.get(p.name, ()), built_wheel=wheels.get(p.name))
        for p in result.pins
    ]
    return replace(result, pins=tuple(pins + build_pins))


def locked_file(f: DistFile) -> LockedFile:
    from wheelhouse.net.urls import local_path

    hashes = dict(f.hashes)
    if "sha256" not in hashes:
        path = local_path(f.url)
        if path is None or not path.is_file():
            raise UsageError(f"{f.filename}: the index gives no sha256 and the file is not local")
        hashes["sha256"] = sha256_file(path)
    return LockedFile(
        filename=f.filename,
        hashes=hashes,
        url=f.url,
        size=f.size,
        upload_time=f.upload_time,
        requires_python=f.requires_python,
    )


def _pin(p: Resolved) -> Pin:
    if p.from_image:
        return Pin(
            name=p.name,
            version=p.version,
            source="image",
            via=p.via,
            requires_dist=p.requires_dist,
            requires_python=p.requires_python,
        )
    return Pin(
        name=p.name,
        version=p.version,
        source="override" if p.image is not None else "install",
        files=tuple(locked_file(f) for f in p.files),
        via=p.via,
        image_version=p.image.version if p.image is not None else None,
        requires_dist=p.requires_dist,
        requires_python=p.requires_python,
        index=p.files[0].index if p.files else None,
    )


def build_lock(
    resolution: Resolution,
    profile: Profile,
    reqs: RequirementSet,
    config: IndexConfig,
    digest: str,
    exclude_newer: str | None,
) -> Lock:
    pins = [_pin(p) for p in resolution.packages if not p.from_image or p.reachable]
    notes = list(resolution.notes)
    if profile.python_version_assumed:
        notes.append(
            f"Python version taken as {profile.python_version}, the newest release "
            f"of {profile.python_minor}, so that packages needing a later patch "
            "release are not lost"
        )
    if profile.installed and not profile.installed_requirements_known:
        notes.append(
            "the image's own requirements are unknown (profile from a package list): "
            "conflicts with them cannot be checked"
        )
    notes += [f"skipped {s}" for s in reqs.skipped]
    if config.constraints:
        notes.append(
            "constraints applied from pip's configuration: " + ", ".join(config.constraints)
        )
    return Lock(
        target=LockTarget.from_profile(profile),
        pins=tuple(pins),
        input_digest=digest,
        requirements=tuple(sorted(reqs.lines)),
        exclude_newer=exclude_newer,
        notes=tuple(notes),
        indexes=tuple(config.fingerprint()),
    )


def lock_image(
    profile: Profile,
    config: IndexConfig,
    output: Path,
    pylock: Path | None = None,
    cache_dir: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Lock:
    """A lock of exactly the image's installed set, to mirror and rebuild a stand-in of it.

    Every installed distribution is pinned to one file for the target: the file recorded in
    the profile when it has one, else the best fitting wheel on the index, else its sdist
    (built later by the target's own interpreter).
    """
    from wheelhouse.net.cache import Cache
    from wheelhouse.resolver.candidates import Options, filter_files
    from wheelhouse.resolver.repository import IndexRepository

    pins: list[Pin] = []
    missing: list[str] = []
    repo: IndexRepository | None = None
    try:
        for dist in profile.installed:
            rec = profile.file_of(dist)
            if rec is not None and rec.sha256:
                files: tuple[LockedFile, ...] = (
                    LockedFile(filename=rec.filename, hashes={"sha256": rec.sha256}, url=rec.url),
                )
            else:
                if repo is None:
                    repo = IndexRepository(config, Cache(cache_dir), transport=transport)
                found = filter_files(
                    repo.files(dist.name),
                    profile,
                    Options(allow_sdist=True),
                    profile.tag_priority(),
                    allow_yanked=True,
                )
                chosen = next(
                    (
                        v
                        for k, v in found.candidates.items()
                        if str(k) == dist.version or k == _version(dist.version)
                    ),
                    None,
                )
                if not chosen:
                    missing.append(f"{dist.name}=={dist.version}")
                    continue
                files = tuple(locked_file(f) for f in chosen)
            pins.append(
                Pin(
                    name=dist.name,
                    version=dist.version,
                    files=files,
                    via=("image",),
                    requires_dist=dist.requires_dist or (),
                    requires_python=dist.requires_python,
                )
            )
    finally:
        if repo is not None:
            repo.close()
    if missing:
        raise UsageError(
            "no file fits the target for these image packages on the configured "
            "indexes: " + ", ".join(missing)
        )
    digest = hashlib.sha256(("image:" + profile.digest()).encode()).hexdigest()
    result = Lock(
        target=LockTarget.from_profile(profile),
        pins=tuple(pins),
        input_digest=digest,
        requirements=tuple(f"{p.name}=={p.version}" for p in pins),
        notes=(
            f"the installed set of profile {profile.name}, to rebuild a stand-in "
            "of the image; not for installing on the image itself",
        ),
        indexes=tuple(config.fingerprint()) if repo is not None else (),
        stand_in=True,
    )
    write_lock_files(result, output, pylock or pylock_path_for(output))
    return result


def _version(text: str) -> object:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return text

"""`lock`: requirements + Profile -> Lock files, written only when the inputs changed."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse import __version__
from wheelhouse.errors import UsageError
from wheelhouse.files import sha256_file
from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
from wheelhouse.model.lockdiff import LockDiff, diff_locks
from wheelhouse.model.lockfiles import (
    load_lock,
    lock_files_current,
    lock_files_match,
    pylock_path_for,
    write_lock_files,
)
from wheelhouse.model.profile import Profile
from wheelhouse.model.requirements import RequirementSet, read_requirements
from wheelhouse.net.cache import default_cache_dir
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.progress import Progress

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
    no_overrides: bool = False  # any override is an error naming its chain
    ignore_active_extras: bool = False  # opt out of honouring the extras the image activates
    # The existing lock's pins are kept where still allowed; `upgrade` keeps none of them,
    # `upgrade_packages` (NAME or NAME<specifier>) lets only these move.
    upgrade: bool = False
    upgrade_packages: Sequence[str] = ()
    check: bool = False  # write nothing: only say whether the files would change
    # projects that may be locked as an sdist to build (":all:" for any); see `Options.sdists`
    allow_sdist: tuple[str, ...] = ()
    build_with: str | None = None  # the target's interpreter, for sdists without static metadata


@dataclass(frozen=True)
class LockOutcome:
    lock: Lock | None  # None: nothing was resolved (inputs unchanged, or no lock to check)
    changed: bool  # the files were rewritten (with `check`: would be)
    output: Path
    pylock: Path
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)
    diff: LockDiff | None = None  # against the lock that was there, if one was
    reason: str = ""  # why nothing was resolved, or why the existing lock was not used


def input_digest(
    reqs: RequirementSet,
    profile: Profile,
    config: IndexConfig,
    exclude_newer: str | None,
    allow_sdist: Sequence[str] = (),
    flags: Sequence[str] = (),
) -> str:
    doc: dict[str, object] = {
        "wheelhouse": __version__,
        "requirements": sorted(reqs.lines),
        "profile": profile.digest(),
        "sources": config.fingerprint(),
        "exclude_newer": exclude_newer or "",
    }
    if allow_sdist:  # only then, so that the digests of existing locks stay as they were
        doc["allow_sdist"] = sorted(allow_sdist)
    if flags:  # only when set, so that locks made without them keep their digest
        doc["flags"] = sorted(flags)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def lock(
    request: LockRequest,
    profile: Profile,
    config: IndexConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Progress | None = None,
) -> LockOutcome:
    """Resolve for `profile` and write both lock files, keeping the existing lock's pins
    where they are still allowed. Unchanged inputs return at once (no resolution) unless an
    upgrade is asked for; files whose contents would not change are not rewritten."""
    started = time.perf_counter()
    pylock = request.pylock or pylock_path_for(request.output)
    reqs = read_requirements(
        request.requirement_files, request.requirements, profile, config.constraints
    )
    flags = [
        flag
        for flag, on in (
            ("no-overrides", request.no_overrides),
            ("ignore-active-extras", request.ignore_active_extras),
        )
        if on
    ]
    sdists = frozenset(_sdist_names(request.allow_sdist))
    digest = input_digest(reqs, profile, config, request.exclude_newer, sorted(sdists), flags)
    for path in (request.output, pylock):
        if path.is_dir():
            raise UsageError(f"{path} is a folder: the lock files are written to file names")
    upgrades = parse_upgrades(request.upgrade_packages)
    moving = request.upgrade or bool(upgrades)

    def outcome(result: Lock | None, changed: bool, **kw: Any) -> LockOutcome:
        seconds = time.perf_counter() - started
        return LockOutcome(result, changed, request.output, pylock, seconds, **kw)

    if not moving and lock_files_current(request.output, pylock, digest):
        return outcome(None, False, reason="inputs unchanged")
    previous, why = previous_lock(request.output)
    if request.check and previous is None:
        return outcome(None, True, reason=why)
    prefer = {} if request.upgrade else preferences(previous, upgrades)
    constraints = dict(reqs.constraints)
    for name, spec in upgrades.items():
        constraints[name] = constraints.get(name, SpecifierSet()) & spec
    result, stats = _resolve_lock(
        request, profile, config, reqs, digest, (prefer, constraints), transport, progress
    )
    _warn_unknown(upgrades, result)
    changed = not lock_files_match(result, request.output, pylock)
    if changed and not request.check:
        write_lock_files(result, request.output, pylock)
    diff = _diff(previous, result, changed)
    return outcome(result, changed, stats=stats, diff=diff, reason=why)


def _diff(previous: Lock | None, result: Lock, changed: bool) -> LockDiff | None:
    """What differs from the lock that was there; a digest that moved for a reason the lock
    does not record (another wheelhouse version, a hand edit) is said so."""
    if previous is None:
        return None
    diff = diff_locks(previous, result)
    if not previous.requirements:  # read from requirements.lock alone: no inputs recorded
        unknown = "the existing lock's inputs are unknown: its pylock.toml is missing or stale"
        return replace(diff, inputs=(unknown,))
    if changed and diff.empty and previous.input_digest != result.input_digest:
        return replace(
            diff, inputs=("input digest differs (another wheelhouse version, or an edit)",)
        )
    return diff


def _resolve_lock(
    request: LockRequest,
    profile: Profile,
    config: IndexConfig,
    reqs: RequirementSet,
    digest: str,
    steer: tuple[Mapping[NormalizedName, Version], Mapping[NormalizedName, SpecifierSet]],
    transport: httpx.AsyncBaseTransport | None,
    progress: Progress | None = None,
) -> tuple[Lock, dict[str, int]]:
    """The network side: an unchanged lock never pays for importing it. `steer`: the
    versions to prefer and the constraints to apply."""
    from wheelhouse.net.cache import Cache
    from wheelhouse.resolver.candidates import Options, parse_cutoff
    from wheelhouse.resolver.repository import IndexRepository
    from wheelhouse.resolver.resolve import KeepImage, resolve

    cutoff = parse_cutoff(request.exclude_newer) if request.exclude_newer else None
    sdists = frozenset(_sdist_names(request.allow_sdist))
    options = Options(
        exclude_newer=cutoff,
        constraints=steer[1],
        prefer=steer[0],
        sdists=sdists,
        build_with=request.build_with,
    )
    log.debug(
        "resolving %d requirements for %s (Python %s), %d pins kept where allowed; sources: %s",
        len(reqs.reqs),
        profile.name,
        profile.python_version,
        len(steer[0]),
        "; ".join(config.fingerprint()) or "none",
    )
    repo = IndexRepository(
        config,
        Cache(request.cache_dir),
        transport=transport,
        offline=request.offline,
        # an upgrade asks the index what is new, also where a cached page is still fresh
        refresh=request.upgrade or bool(request.upgrade_packages),
    )
    try:
        keep = KeepImage(
            overrides=not request.no_overrides, active_extras=not request.ignore_active_extras
        )
        resolution = resolve(reqs.reqs, profile, repo, options, progress, keep)
        builds = _build_pins(repo, profile, options, resolution) if sdists else []
        wheels = _lock_builds(repo, profile, options, resolution) if builds else {}
        result = build_lock(resolution, profile, reqs, config, digest, request.exclude_newer)
        result = _with_builds(result, builds, wheels)
        stats = dict(repo.fetcher.stats)
        log.debug("metadata: %s", ", ".join(f"{n} {how}" for how, n in stats.items()))
        return result, stats
    finally:
        repo.close()


def parse_upgrades(texts: Sequence[str]) -> dict[NormalizedName, SpecifierSet]:
    """`--upgrade-package` values: NAME, or NAME with a specifier to move it to."""
    out: dict[NormalizedName, SpecifierSet] = {}
    for text in texts:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise UsageError(f"--upgrade-package {text!r}: not a package name: {exc}") from None
        if req.url or req.marker or req.extras:
            raise UsageError(f"--upgrade-package {text!r}: give NAME or NAME<specifier> only")
        name = canonicalize_name(req.name)
        out[name] = out.get(name, SpecifierSet()) & req.specifier
    return out


def previous_lock(output: Path) -> tuple[Lock | None, str]:
    """The lock already at `output` (with its pylock.toml), or None and why not."""
    if not output.exists():
        return None, f"no lock at {output} yet"
    try:
        return load_lock(output), ""
    except UsageError as exc:
        log.warning("the existing lock cannot be read, so none of its pins are kept: %s", exc)
        return None, f"the existing lock cannot be read: {exc}"


def preferences(
    previous: Lock | None, upgrades: Mapping[NormalizedName, SpecifierSet]
) -> dict[NormalizedName, Version]:
    """The versions the existing lock installs, except those asked to move."""
    prefer: dict[NormalizedName, Version] = {}
    for pin in previous.to_install() if previous is not None else ():
        if pin.name not in upgrades:
            try:
                prefer[pin.name] = Version(pin.version)
            except InvalidVersion:
                continue  # a hand-edited version: nothing to prefer
    return prefer


def _warn_unknown(upgrades: Mapping[NormalizedName, SpecifierSet], result: Lock) -> None:
    for name in upgrades:
        if result.pin(name) is None:
            log.warning("--upgrade-package %s: not in the lock; nothing to upgrade", name)


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
        override_chain=p.override_chain,
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
        active_extras=resolution.active_extras,
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

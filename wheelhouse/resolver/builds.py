"""What building a locked sdist takes: its build requirements (PEP 517/518, or setuptools'
legacy default) resolved for the target, and, where the sdist's metadata is not static, its
metadata from a build with the target's interpreter (`lock --build-with PYTHON`).

The build environment is isolated: none of the image's packages are in it, so the build
requirements are resolved for the target's interpreter alone, wheels only.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse.errors import IntegrityError
from wheelhouse.model.lock import LockedFile
from wheelhouse.model.profile import Profile
from wheelhouse.model.requirements import read_requirements
from wheelhouse.net.metadata import CoreMetadata, metadata_from_wheel_zip, parse_metadata
from wheelhouse.net.pages import DistFile
from wheelhouse.resolver.candidates import Options
from wheelhouse.sdists import BuildSystem, build_system, parse_pyproject, sdist_members

if TYPE_CHECKING:
    from wheelhouse.resolver.repository import IndexRepository
    from wheelhouse.resolver.resolve import Resolution


def build_profile(profile: Profile) -> Profile:
    """The target's interpreter with nothing installed: where a build runs."""
    return profile.with_installed(())


def sdist_build_system(repo: IndexRepository, f: DistFile) -> BuildSystem:
    """The sdist's declared build system (the legacy default where it declares none)."""
    data = repo.download(f)
    members = sdist_members(data, f.filename, ["pyproject.toml"])
    raw = members.get("pyproject.toml")
    return build_system(parse_pyproject(raw, f.filename) if raw else None, f.filename)


def resolve_build_requirements(
    repo: IndexRepository, profile: Profile, options: Options, f: DistFile
) -> Resolution:
    """The sdist's build requirements resolved for the target: wheels only."""
    from wheelhouse.resolver.resolve import resolve

    target = build_profile(profile)
    system = sdist_build_system(repo, f)
    reqs = read_requirements((), system.requires, target)
    build_options = replace(options, sdists=frozenset(), allow_sdist=False, build_with=None)
    return resolve(reqs.reqs, target, repo, build_options)


@dataclass(frozen=True)
class LockBuild:
    """An sdist built at lock time: its wheel's metadata, name and hash."""

    metadata: CoreMetadata
    wheel: LockedFile


def build_at_lock(
    repo: IndexRepository, profile: Profile, options: Options, f: DistFile, python: str
) -> LockBuild:
    """Build the sdist `f` with the target's interpreter (once per lock): for metadata that
    is not static, and for the wheel's hash, so that pip, hashes required, accepts the wheel
    `sync --build-with` will build the same way."""
    if f.url not in repo.lock_builds:
        repo.lock_builds[f.url] = _build(repo, profile, options, f, python)
    build: LockBuild = repo.lock_builds[f.url]
    return build


def _build(
    repo: IndexRepository, profile: Profile, options: Options, f: DistFile, python: str
) -> LockBuild:
    from wheelhouse.sdists import build_epoch, build_wheel

    resolution = resolve_build_requirements(repo, profile, options, f)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-lock-build-") as tmp:
        folder = Path(tmp)
        sdist = folder / f.filename
        sdist.write_bytes(repo.download(f))
        wheels = []
        for p in resolution.packages:
            path = folder / "deps" / p.files[0].filename
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(repo.download(p.files[0]))
            wheels.append(path)
        epoch = build_epoch(sdist)
        built = build_wheel(sdist, python, profile.python_minor, wheels, folder / "out", epoch)
        with zipfile.ZipFile(built.wheel) as zf:
            meta = parse_metadata(metadata_from_wheel_zip(zf, built.wheel.name))
        digest = hashlib.sha256(built.wheel.read_bytes()).hexdigest()
    if meta.name != f.name:
        raise IntegrityError(f"{f.filename}: the built wheel names {meta.name}, not {f.name}")
    return LockBuild(meta, LockedFile(filename=built.wheel.name, hashes={"sha256": digest}))

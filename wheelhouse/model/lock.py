"""The Lock: what the image provides and what must be added, for one target.

Values only. Its two file formats are `requirements_lock` (for pip) and `pylock` (PEP 751);
`lockfiles` reads and writes them as a pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.model.extras import ActiveExtra
from wheelhouse.model.profile import Profile
from wheelhouse.model.pyrange import PythonRange, python_range

Source = Literal["install", "image", "override", "build"]


@dataclass(frozen=True)
class LockedFile:
    """One distribution file pinned by hash."""

    filename: str
    hashes: Mapping[str, str]  # algorithm -> hex digest; sha256 always present
    url: str | None = None  # where it came from, credentials removed
    size: int | None = None
    upload_time: datetime | None = None
    requires_python: str | None = None

    @property
    def sha256(self) -> str:
        return self.hashes["sha256"]

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class Pin:
    """One distribution in the lock.

    source: "install" (the lock adds it), "image" (the image provides it; not installed),
    "override" (installed, and shadows the image's own copy `image_version`; `override_chain`
    names the requirements that forced it), "build" (a build requirement of a locked sdist:
    kept in the wheelhouse, never installed).
    `build_requires`: on a pin built from its sdist, the exact build pins (`name==version`)
    its isolated build environment holds; `built_wheel`, where the lock built it too, the
    wheel's name and hash (pip may then install that wheel, hashes required).
    """

    name: NormalizedName
    version: str
    source: Source = "install"
    files: tuple[LockedFile, ...] = ()  # wheels for the target, best first
    via: tuple[str, ...] = ()
    image_version: str | None = None
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    index: str | None = None
    override_chain: str = ""
    build_requires: tuple[str, ...] = ()
    built_wheel: LockedFile | None = None  # what `lock --build-with` built from the sdist

    @property
    def installs(self) -> bool:
        return self.source not in ("image", "build")

    @property
    def from_sdist(self) -> bool:
        """True if the lock pins an sdist, to be built into a wheel for the target."""
        best = self.best_file
        return best is not None and bool(best.filename) and not best.is_wheel

    @property
    def best_file(self) -> LockedFile | None:
        return self.files[0] if self.files else None


@dataclass(frozen=True)
class LockTarget:
    """The target a lock was made for (a Profile's identity and install-relevant facts)."""

    profile_name: str
    profile_digest: str
    python_version: str
    implementation: str
    abis: tuple[str, ...]
    platforms: tuple[str, ...]
    tags: tuple[str, ...]
    markers: Mapping[str, str]
    environment: str

    @classmethod
    def from_profile(cls, profile: Profile) -> LockTarget:
        return cls(
            profile_name=profile.name,
            profile_digest=profile.digest(),
            python_version=profile.python_version,
            implementation=profile.implementation,
            abis=profile.abis,
            platforms=profile.platforms,
            tags=profile.tags,
            markers=dict(profile.markers),
            environment=profile.environment_marker(),
        )

    @property
    def python_minor(self) -> str:
        v = Version(self.python_version)
        return f"{v.major}.{v.minor}"

    def as_profile(self) -> Profile:
        """A Profile with this target's facts (installed packages are not part of a lock)."""
        return Profile(
            name=self.profile_name,
            python_version=self.python_version,
            implementation=self.implementation,
            abis=self.abis,
            platforms=self.platforms,
            tags=self.tags,
            markers=self.markers,
        )


@dataclass(frozen=True)
class Lock:
    target: LockTarget
    pins: tuple[Pin, ...]
    input_digest: str
    requirements: tuple[str, ...] = ()
    exclude_newer: str | None = None
    notes: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    active_extras: tuple[ActiveExtra, ...] = ()  # integrations the environment turns on
    # the image's own set, made to build a stand-in of the image on the build host
    # (`lock --image-packages`): never installed on the image itself
    stand_in: bool = False

    def to_install(self) -> list[Pin]:
        return [p for p in self.pins if p.installs]

    def image_provided(self) -> list[Pin]:
        return [p for p in self.pins if p.source == "image"]

    def build_pins(self) -> list[Pin]:
        return [p for p in self.pins if p.source == "build"]

    def to_sync(self) -> list[Pin]:
        """What the wheelhouse must hold: what installs, and what builds its sdists."""
        return [p for p in self.pins if p.source != "image"]

    def overrides(self) -> list[Pin]:
        return [p for p in self.pins if p.source == "override"]

    def python_range(self) -> PythonRange:
        """The releases of the target's minor this lock installs on (every installed
        package's Requires-Python allows them), not only the target's own release."""
        dists = ((p.name, p.version, p.requires_python) for p in self.to_install())
        return python_range(self.target.python_version, dists)

    def pin(self, name: str) -> Pin | None:
        key = canonicalize_name(name)
        return next((p for p in self.pins if p.name == key), None)

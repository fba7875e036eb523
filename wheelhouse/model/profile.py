"""The target environment as a value: Python version, tags, markers and installed packages.

Nothing here looks at the running interpreter: every answer comes from the Profile, so a lock
made on a 3.11 laptop is right for a 3.7 image.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from packaging import tags as ptags
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse.errors import UsageError
from wheelhouse.model.filenames import tag_ranks
from wheelhouse.model.profile_schema import FORMAT_VERSION, check_profile

PROFILE_FORMAT = FORMAT_VERSION
DEFAULT_PROFILE = "azureml-sklearn-0.24.1-py37-cpu"

# A bare "3.X" means the newest 3.X release, so that packages needing e.g. ">=3.7.1" are
# kept. Minor versions that reached their end of life have a last release; for those still
# released the patch is taken as .99 (above any real one); the lock header says which.
LAST_PATCH = {(3, 6): 15, (3, 7): 17, (3, 8): 20, (3, 9): 25}
STILL_RELEASED_PATCH = 99
OLDEST_TARGET = (3, 6)

_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_MANYLINUX_RE = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_LEGACY_RE = re.compile(r"^(manylinux2014|manylinux2010|manylinux1)_(\w+)$")
_MUSL_RE = re.compile(r"^musllinux_(\d+)_(\d+)_(\w+)$")
_MAC_RE = re.compile(r"^macosx_([0-9]{1,3})_([0-9]{1,3})_([a-z0-9_]+)$")
_PLATFORM_RE = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class InstalledDist:
    """One distribution already installed in the image."""

    name: NormalizedName
    version: str
    requires_dist: tuple[str, ...] | None = None  # None: not known (e.g. from pip freeze)
    requires_python: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.requires_dist is not None:
            data["requires_dist"] = list(self.requires_dist)
        if self.requires_python:
            data["requires_python"] = self.requires_python
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstalledDist:
        reqs = data.get("requires_dist")
        return cls(
            name=canonicalize_name(str(data["name"])),
            version=str(data["version"]),
            requires_dist=None if reqs is None else tuple(str(r) for r in reqs),
            requires_python=data.get("requires_python"),
        )

    def requirements(self) -> list[Requirement]:
        """Requires-Dist parsed; malformed entries are reported, not skipped."""
        out = []
        for text in self.requires_dist or ():
            try:
                out.append(Requirement(text))
            except InvalidRequirement as exc:
                raise UsageError(
                    f"image package {self.name} {self.version} has a malformed "
                    f"Requires-Dist {text!r}: {exc}"
                ) from exc
        return out


@dataclass(frozen=True)
class ImageFile:
    """The file one image package was installed from, where the profile knows it."""

    name: NormalizedName
    version: str
    filename: str
    url: str | None = None
    sha256: str = ""  # "" when unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "filename": self.filename,
            "url": self.url,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageFile:
        url = data.get("url")
        return cls(
            name=canonicalize_name(str(data["name"])),
            version=str(data["version"]),
            filename=str(data["filename"]),
            url=None if url is None else str(url),
            sha256=str(data.get("sha256") or ""),
        )


@dataclass(frozen=True)
class Profile:
    """Everything that decides what installs and runs on the target."""

    name: str
    python_version: str  # full, e.g. "3.7.16"
    implementation: str  # tag prefix: "cp", "pp"
    abis: tuple[str, ...]
    platforms: tuple[str, ...]  # most specific first
    tags: tuple[str, ...]  # ordered, best first
    markers: Mapping[str, str]
    installed: tuple[InstalledDist, ...] = ()
    installed_requirements_known: bool = True
    description: str = ""
    source: str = ""
    files: tuple[ImageFile, ...] = ()  # what the installed set was installed from, if known
    python_version_assumed: bool = False  # a bare X.Y taken as its newest patch release
    extra: Mapping[str, Any] = field(default_factory=dict)  # other facts, kept as they are

    # -- derived views ---------------------------------------------------------------
    @property
    def version(self) -> Version:
        return Version(self.python_version)

    @property
    def python_minor(self) -> str:
        v = self.version
        return f"{v.major}.{v.minor}"

    def tag_priority(self) -> dict[ptags.Tag, int]:
        """Each supported tag mapped to its rank (0 is best)."""
        return tag_ranks(self.tags)

    def installed_map(self) -> dict[NormalizedName, InstalledDist]:
        return {d.name: d for d in self.installed}

    def marker_env(self, extra: str = "") -> dict[str, str]:
        env = dict(self.markers)
        env["extra"] = extra
        return env

    def evaluate(self, marker: Marker | None, extras: Iterable[str] = ("",)) -> bool:
        """Evaluate a marker for this target, true if any of ``extras`` makes it true."""
        if marker is None:
            return True
        return any(marker.evaluate(self.marker_env(e)) for e in extras)

    def accepts_python(self, requires_python: str | None) -> bool:
        if not requires_python:
            return True
        return _accepts(self.python_version, requires_python)

    def environment_marker(self) -> str:
        """A PEP 508 marker for every interpreter like this target's (pylock.toml's
        `environments`): its minor, not its patch release, which `requires-python` narrows."""
        m = self.markers
        return (
            f'python_version == "{self.python_minor}" and '
            f'platform_python_implementation == "{m["platform_python_implementation"]}" and '
            f'sys_platform == "{m["sys_platform"]}" and '
            f'platform_machine == "{m["platform_machine"]}"'
        )

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PROFILE_FORMAT,
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "python_version": self.python_version,
            "implementation": self.implementation,
            "abis": list(self.abis),
            "platforms": list(self.platforms),
            "tags": list(self.tags),
            "markers": dict(sorted(self.markers.items())),
            "installed_requirements_known": self.installed_requirements_known,
            "installed": [d.to_dict() for d in sorted(self.installed, key=lambda d: d.name)],
            **({"extra": extra} if (extra := self._extra_dict()) else {}),
        }

    def _extra_dict(self) -> dict[str, Any]:
        """The typed facts and the rest, under "extra" as profile format 1 keeps them."""
        out: dict[str, Any] = {}
        if self.files:
            out["files"] = [f.to_dict() for f in self.files]
        out.update(self.extra)
        if self.python_version_assumed:
            out["python_version_assumed"] = True
        return out

    def file_of(self, dist: InstalledDist) -> ImageFile | None:
        """The file the profile records for an installed distribution (same version)."""
        return next(
            (f for f in self.files if f.name == dist.name and f.version == dist.version), None
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "(in memory)") -> Profile:
        """A Profile from its JSON document, checked field by field first (`where` names
        the file in messages)."""
        check_profile(data, where)
        try:
            return cls(
                name=str(data["name"]),
                description=str(data.get("description", "")),
                source=str(data.get("source", "")),
                python_version=str(data["python_version"]),
                implementation=str(data["implementation"]),
                abis=tuple(data["abis"]),
                platforms=tuple(data["platforms"]),
                tags=tuple(data["tags"]),
                markers={str(k): str(v) for k, v in data["markers"].items()},
                installed=tuple(InstalledDist.from_dict(d) for d in data.get("installed", [])),
                installed_requirements_known=bool(data.get("installed_requirements_known", True)),
                **_typed_extra(data.get("extra", {})),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # pragma: no cover
            raise UsageError(f"profile {where}: malformed ({exc!r})") from exc

    def digest(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def with_installed(self, installed: Iterable[InstalledDist], **changes: Any) -> Profile:
        return replace(self, installed=tuple(sorted(installed, key=lambda d: d.name)), **changes)


def _typed_extra(extra: Any) -> dict[str, Any]:
    """Profile fields kept under "extra" in format 1: typed ones out, the rest as is."""
    if not isinstance(extra, Mapping):
        raise UsageError(f"malformed profile: 'extra' is {type(extra).__name__}, not a table")
    rest = dict(extra)
    files = rest.pop("files", [])
    if not isinstance(files, list) or not all(isinstance(f, Mapping) for f in files):
        raise UsageError("malformed profile: 'extra.files' is not a list of tables")
    return {
        "files": tuple(ImageFile.from_dict(f) for f in files),
        "python_version_assumed": bool(rest.pop("python_version_assumed", False)),
        "extra": rest,
    }


@functools.lru_cache(maxsize=4096)
def _accepts(python_version: str, requires_python: str) -> bool:
    """Requires-Python check; thousands of files share a few dozen distinct strings."""
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return True  # pip ignores an invalid Requires-Python too
    return spec.contains(python_version, prereleases=True)


# -- building a target from a few facts -----------------------------------------------


def full_python_version(text: str) -> tuple[str, bool]:
    """'3.7' -> ('3.7.17', True): the newest patch release; '3.7.16' -> ('3.7.16', False)."""
    try:
        v = Version(text)
    except InvalidVersion as exc:
        raise UsageError(f"invalid Python version {text!r}") from exc
    if (v.major, v.minor) < OLDEST_TARGET:
        raise UsageError(f"Python {text} is not a target wheelhouse supports (3.6 or newer)")
    if len(v.release) >= 3:
        return text, False
    if len(v.release) != 2:
        raise UsageError(f"give a Python version as X.Y or X.Y.Z, not {text!r}")
    patch = LAST_PATCH.get((v.major, v.minor), STILL_RELEASED_PATCH)
    return f"{v.major}.{v.minor}.{patch}", True


# Architectures each platform family publishes wheels for (PEP 599/600/656, macOS, Windows).
LINUX_ARCHES = (
    "x86_64",
    "i686",
    "aarch64",
    "armv7l",
    "armv6l",
    "ppc64le",
    "ppc64",
    "s390x",
    "riscv64",
    "loongarch64",
)
LEGACY_ARCHES = {
    "manylinux1": ("x86_64", "i686"),
    "manylinux2010": ("x86_64", "i686"),
    "manylinux2014": ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"),
}
MAC_ARCHES = ("x86_64", "arm64", "universal2", "universal", "intel", "fat", "fat3", "fat64")
WINDOWS = ("win32", "win_amd64", "win_arm64")
_PLATFORM_FORMS = (
    "manylinux_2_28_x86_64, manylinux2014_aarch64, musllinux_1_2_x86_64, linux_x86_64, "
    "macosx_11_0_arm64, win_amd64"
)


def check_platform(platform: str) -> str:
    """A platform tag as given by a user, checked against the manylinux, musllinux, linux,
    macOS and Windows grammars (a typo would otherwise surface as a resolution failure);
    returned normalised."""
    tag = platform.replace("-", "_").replace(".", "_")
    problem = _platform_problem(tag)
    if problem:
        raise UsageError(f"platform tag {platform!r}: {problem}")
    return tag


def _platform_problem(tag: str) -> str:
    """What is wrong with a platform tag; "" when nothing is."""
    if tag in WINDOWS:
        return ""
    m = re.match(r"^(manylinux|musllinux|macosx)_(\d+)_(\d+)_(.+)$", tag)
    if m:
        known = MAC_ARCHES if m.group(1) == "macosx" else LINUX_ARCHES
        if m.group(1) == "manylinux" and int(m.group(2)) < 2:
            return "manylinux_X_Y names a glibc version, 2.5 or later"
        return _arch_problem(m.group(4), known)
    m = re.match(r"^(manylinux1|manylinux2010|manylinux2014|linux)_(.+)$", tag)
    if m:
        return _arch_problem(m.group(2), LEGACY_ARCHES.get(m.group(1), LINUX_ARCHES))
    return f"not a platform tag (e.g. {_PLATFORM_FORMS})"


def _arch_problem(arch: str, known: Sequence[str]) -> str:
    if arch in known:
        return ""
    return f"unknown architecture {arch!r} (known here: {', '.join(known)})"


def expand_platform(platform: str) -> list[str]:
    """One platform tag to every platform tag a wheel installer on it accepts, best first."""
    platform = platform.replace("-", "_").replace(".", "_")
    legacy = _LEGACY_RE.match(platform)
    if legacy:
        minor = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}[legacy.group(1)]
        platform = f"manylinux_2_{minor}_{legacy.group(2)}"
    many = _MANYLINUX_RE.match(platform)
    if many:
        major, minor, arch = int(many.group(1)), int(many.group(2)), many.group(3)
        out: list[str] = []
        lowest = 5 if arch in ("x86_64", "i686") else 17
        for m in range(minor, lowest - 1, -1):
            out.append(f"manylinux_{major}_{m}_{arch}")
            if m in _LEGACY_MANYLINUX and arch in (
                "x86_64",
                "i686",
                "aarch64",
                "ppc64le",
                "s390x",
                "armv7l",
                "ppc64",
            ):
                out.append(f"{_LEGACY_MANYLINUX[m]}_{arch}")
        out.append(f"linux_{arch}")
        return out
    musl = _MUSL_RE.match(platform)
    if musl:
        major, minor, arch = int(musl.group(1)), int(musl.group(2)), musl.group(3)
        return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)] + [f"linux_{arch}"]
    mac = _MAC_RE.match(platform)
    if mac:
        version = (int(mac.group(1)), int(mac.group(2)))
        return list(ptags.mac_platforms(version, mac.group(3)))
    if platform.startswith("macosx_") or not _PLATFORM_RE.match(platform):
        raise UsageError(f"unsupported platform tag {platform!r}")
    return [platform]


def machine_of(platform: str) -> str:
    for arch in ("x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7l", "arm64", "universal2"):
        if platform.endswith(arch):
            return arch
    if platform in ("win_amd64",):
        return "AMD64"
    if platform == "win32":
        return "x86"
    if platform == "win_arm64":
        return "ARM64"
    return platform.rsplit("_", 1)[-1]


def system_markers(platform: str) -> dict[str, str]:
    if platform.startswith(("manylinux", "musllinux", "linux")):
        return {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux"}
    if platform.startswith("macosx"):
        return {"os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin"}
    if platform.startswith("win"):
        return {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows"}
    raise UsageError(f"unsupported platform tag {platform!r}")


def compute_tags(
    python_version: Version, implementation: str, abis: Sequence[str], platforms: Sequence[str]
) -> list[str]:
    """The ordered tag list pip would accept on such an interpreter."""
    pyver = (python_version.major, python_version.minor)
    interpreter = f"{implementation}{pyver[0]}{pyver[1]}"
    if implementation == "cp":
        found: Iterator[ptags.Tag] = ptags.cpython_tags(pyver, abis, platforms)
    else:
        found = ptags.generic_tags(interpreter, abis, platforms)
    ordered = list(found) + list(ptags.compatible_tags(pyver, interpreter, platforms))
    seen: set[ptags.Tag] = set()
    out = []
    for tag in ordered:
        if tag not in seen:
            seen.add(tag)
            out.append(str(tag))
    return out


def markers_for(
    python_full: str, implementation: str, platform: str, release: str = "", version: str = ""
) -> dict[str, str]:
    v = Version(python_full)
    impl_name = {"cp": "cpython", "pp": "pypy"}.get(implementation, implementation)
    env = {
        "implementation_name": impl_name,
        "implementation_version": python_full,
        "platform_machine": machine_of(platform),
        "platform_python_implementation": {"cpython": "CPython", "pypy": "PyPy"}.get(
            impl_name, impl_name
        ),
        "platform_release": release,
        "platform_version": version,
        "python_full_version": python_full,
        "python_version": f"{v.major}.{v.minor}",
    }
    env.update(system_markers(platform))
    return env


def bare_profile(
    python_version: str = "3.7",
    platform: str = "manylinux2014_x86_64",
    implementation: str = "cp",
    abi: str | None = None,
) -> Profile:
    """A target with nothing installed, from `--python-version` / `--platform` style flags."""
    full, assumed = full_python_version(python_version)
    platform = check_platform(platform)
    v = Version(full)
    if abi is None:
        # CPython before 3.8 built with pymalloc carries the 'm' ABI flag.
        abi = f"{implementation}{v.major}{v.minor}" + (
            "m" if implementation == "cp" and (v.major, v.minor) < (3, 8) else ""
        )
    platforms = expand_platform(platform)
    note = (
        f"Python {python_version} taken as {full}, the newest {v.major}.{v.minor} release"
        if assumed
        else ""
    )
    return Profile(
        name=f"{implementation}{v.major}{v.minor}-{platform}",
        description="bare target: no installed packages" + (f"; {note}" if note else ""),
        source=f"flags: --python-version {python_version} --platform {platform}",
        python_version=full,
        implementation=implementation,
        abis=(abi,),
        platforms=tuple(platforms),
        tags=tuple(compute_tags(v, implementation, [abi], platforms)),
        markers=markers_for(full, implementation, platforms[0]),
        python_version_assumed=assumed,
    )


def builtin_profiles() -> list[str]:
    folder = resources.files("wheelhouse") / "profiles"
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def load_profile(spec: str | Path | None) -> Profile:
    """A profile from a JSON path or the name of a built-in one (None: the default)."""
    if spec is None:
        spec = DEFAULT_PROFILE
    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        where = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read profile {path}: {exc.strerror}") from exc
    else:
        res = resources.files("wheelhouse") / "profiles" / f"{spec}.json"
        if not res.is_file():
            known = ", ".join(builtin_profiles()) or "none"
            raise UsageError(
                f"no profile file or built-in profile named {spec!r} (built-in: {known}; "
                "see wheelhouse profiles)"
            )
        where, data = f"built-in {spec}", res.read_bytes()
    return Profile.from_dict(_json_document(data, where), where)


def _json_document(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"profile {where} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"profile {where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise UsageError(f"profile {where}: nested too deeply") from None


def builtin_profile_matching(name: str, digest: str) -> Profile | None:
    """The built-in profile a lock was made for, if it is one and has not changed since."""
    if name not in builtin_profiles():
        return None
    profile = load_profile(name)
    return profile if profile.digest() == digest else None

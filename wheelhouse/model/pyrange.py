"""The Python releases a lock installs on: the target's minor, narrowed by every locked
package's Requires-Python.

A lock is made for one exact profile, but it serves every release of that minor the packages
accept: an image rebuilt on the next patch release keeps its lock. pylock.toml's
`requires-python` and the requirements lock's header say which releases; verify compares an
image's exact release with them. Pure.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from wheelhouse.model.profile import LAST_PATCH, STILL_RELEASED_PATCH


@dataclass(frozen=True)
class Limit:
    """A locked distribution whose Requires-Python leaves out some releases of the minor."""

    name: str
    version: str
    requires_python: str

    def excludes(self, python_version: str) -> bool:
        return not _spec(self.requires_python).contains(python_version, prereleases=True)


@dataclass(frozen=True)
class PythonRange:
    """The patch releases of one Python minor that every locked package accepts."""

    major: int
    minor: int
    releases: tuple[int, ...]  # patch numbers, ascending, never empty
    newest: int  # the minor's last release, or STILL_RELEASED_PATCH while it is released
    limits: tuple[Limit, ...] = ()  # the packages that narrowed it, by name

    @property
    def specifier(self) -> str:
        """As PEP 440 and pylock.toml's `requires-python` write it: `>=3.7.1,<3.8`."""
        lo, hi = self.releases[0], self.releases[-1]
        if lo == hi != self.newest:
            return f"=={self._release(lo)}"
        parts = [f">={self._release(lo)}" if lo else f">={self.major}.{self.minor}"]
        parts += [f"!={self._release(p)}" for p in self._holes()]
        parts.append(
            f"<{self.major}.{self.minor + 1}" if hi == self.newest else f"<={self._release(hi)}"
        )
        return ",".join(parts)

    def contains(self, python_version: str) -> bool:
        return SpecifierSet(self.specifier).contains(python_version, prereleases=True)

    def excluding(self, python_version: str) -> list[Limit]:
        """The packages whose Requires-Python leaves `python_version` out."""
        return [limit for limit in self.limits if limit.excludes(python_version)]

    def describe(self) -> str:
        """In words: '3.7.1 and every later 3.7 release'."""
        lo, hi = self.releases[0], self.releases[-1]
        minor = f"{self.major}.{self.minor}"
        if lo == hi:
            text = f"only {self._release(lo)}"
        elif hi != self.newest:
            text = f"{self._release(lo)} to {self._release(hi)}"
        elif lo:
            text = f"{self._release(lo)} and every later {minor} release"
        else:
            text = f"every {minor} release"
        holes = self._holes()
        return text + (" except " + ", ".join(map(self._release, holes)) if holes else "")

    def _release(self, patch: int) -> str:
        return f"{self.major}.{self.minor}.{patch}"

    def _holes(self) -> list[int]:
        present = set(self.releases)
        return [p for p in range(self.releases[0], self.releases[-1]) if p not in present]


def python_range(python_version: str, dists: Iterable[tuple[str, str, str | None]]) -> PythonRange:
    """The releases of `python_version`'s minor that all `dists` (name, version,
    Requires-Python) accept; a contradiction leaves the target's own release."""
    v = Version(python_version)
    newest = LAST_PATCH.get((v.major, v.minor), STILL_RELEASED_PATCH)
    every = frozenset(range(newest + 1))
    allowed = set(every)
    limits = []
    for name, version, requires_python in sorted(dists, key=lambda d: (d[0], d[1])):
        accepted = _accepted(v.major, v.minor, newest, requires_python or "")
        if accepted != every:
            limits.append(Limit(name, version, requires_python or ""))
            allowed &= accepted
    releases = tuple(sorted(allowed)) or (min(v.micro, newest),)
    return PythonRange(v.major, v.minor, releases, newest, tuple(limits))


@functools.lru_cache(maxsize=1024)
def _accepted(major: int, minor: int, newest: int, requires_python: str) -> frozenset[int]:
    """The patch numbers a Requires-Python accepts; a lock repeats few distinct ones."""
    spec = _spec(requires_python)
    return frozenset(
        p for p in range(newest + 1) if spec.contains(f"{major}.{minor}.{p}", prereleases=True)
    )


def _spec(requires_python: str) -> SpecifierSet:
    """An invalid Requires-Python limits nothing, as pip and wheelhouse's resolver treat it."""
    try:
        return SpecifierSet(requires_python)
    except (InvalidSpecifier, InvalidVersion):
        return SpecifierSet()

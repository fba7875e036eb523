"""What a distribution file's name says: project, version and, for a wheel, its tags.

The one place that reads wheel and sdist names; a name that is neither reads as nothing
(None or no tags), never as an error: indexes and folders hold other files too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

SDIST_SUFFIXES = (".tar.gz", ".zip")


@dataclass(frozen=True)
class DistName:
    """A wheel's or sdist's file name, read."""

    name: NormalizedName
    version: Version
    tags: frozenset[Tag]  # empty for an sdist

    @property
    def is_wheel(self) -> bool:
        return bool(self.tags)

    def has_version(self, text: str) -> bool:
        """True if `text` is this file's version (compared as versions: 1.0 is 1.0.0)."""
        try:
            return Version(text) == self.version
        except InvalidVersion:
            return False


def parse_filename(filename: str) -> DistName | None:
    """The project, version and tags a file name gives; None if it is no wheel or sdist."""
    try:
        if filename.endswith(".whl"):
            name, version, _, tags = parse_wheel_filename(filename)
            return DistName(name, version, tags)
        if filename.endswith(SDIST_SUFFIXES):
            name, version = parse_sdist_filename(filename)
            return DistName(name, version, frozenset())
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    return None


def wheel_tags(filename: str) -> tuple[str, ...]:
    """A wheel's tags as text, sorted; () for anything that is not a valid wheel name."""
    parsed = parse_filename(filename) if filename.endswith(".whl") else None
    return tuple(sorted(str(t) for t in parsed.tags)) if parsed else ()


def wheel_fits(filename: str, tags: Collection[str]) -> bool:
    """True if the wheel's tags intersect the target's."""
    wanted = set(tags)
    return any(t in wanted for t in wheel_tags(filename))


def tag_ranks(tags: Sequence[str]) -> dict[Tag, int]:
    """The target's ordered tags as a rank each (0 is best)."""
    ranks: dict[Tag, int] = {}
    for i, text in enumerate(tags):
        for tag in parse_tag(text):
            ranks.setdefault(tag, i)
    return ranks


def tag_rank(tags: Collection[Tag], ranks: Mapping[Tag, int]) -> int | None:
    """The best (lowest) rank any of a wheel's tags has on the target; None if none fits."""
    found = [ranks[t] for t in tags if t in ranks]
    return min(found) if found else None

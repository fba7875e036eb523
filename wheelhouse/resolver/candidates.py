"""Which files of a project can serve the target: the resolver's options, and files sorted
out by upload time, yanked state, Requires-Python and wheel tags (with the reasons kept for
error messages). Pure.
"""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from wheelhouse.errors import UsageError
from wheelhouse.model.filenames import tag_rank
from wheelhouse.model.profile import Profile
from wheelhouse.net.pages import DistFile

log = logging.getLogger("wheelhouse")


@dataclass(frozen=True)
class Options:
    exclude_newer: datetime | None = None
    allow_sdist: bool = False  # use an sdist's metadata when no wheel fits (image profiles)
    constraints: Mapping[NormalizedName, SpecifierSet] = field(default_factory=dict)
    # `lock --allow-sdist [NAME]`: these projects (":all:" for every one) may be locked as an
    # sdist to build, but only where no wheel of any acceptable version fits the target
    sdists: frozenset[str] = frozenset()
    build_with: str | None = None  # the target's interpreter, for sdists without static metadata
    # versions tried first where still allowed: the existing lock's pins (`lock` keeps them
    # unless asked to upgrade, as uv and pip-compile do)
    prefer: Mapping[NormalizedName, Version] = field(default_factory=dict)

    def preferred_first(self, name: NormalizedName, versions: Sequence[Version]) -> list[Version]:
        """`versions`, newest first, with the preferred one (if among them) moved to the front."""
        ordered = sorted(versions, reverse=True)
        preferred = self.prefer.get(name)
        if preferred is not None and preferred in ordered:
            ordered.remove(preferred)
            ordered.insert(0, preferred)
        return ordered

    def sdist_allowed(self, name: str) -> bool:
        return self.allow_sdist or ":all:" in self.sdists or name in self.sdists


@dataclass
class Filtered:
    """Why files of a project were or were not usable (for error messages)."""

    candidates: dict[Version, list[DistFile]] = field(default_factory=dict)
    no_wheel: dict[Version, bool] = field(default_factory=dict)  # version -> has sdist
    wrong_python: dict[Version, str] = field(default_factory=dict)  # -> a Requires-Python
    too_new: set[Version] = field(default_factory=set)
    no_time: int = 0
    yanked: set[Version] = field(default_factory=set)


def filter_files(
    files: Sequence[DistFile],
    profile: Profile,
    options: Options,
    ranks: Mapping[Any, int],
    allow_yanked: bool = False,
) -> Filtered:
    out = Filtered()
    by_version: dict[Version, list[DistFile]] = {}
    for f in files:
        by_version.setdefault(f.version, []).append(f)
    for version, group in by_version.items():
        usable = []
        for f in group:
            if options.exclude_newer is not None:
                if f.upload_time is None:
                    out.no_time += 1
                    continue
                if f.upload_time > options.exclude_newer:
                    out.too_new.add(version)
                    continue
            if f.yanked and not allow_yanked:
                out.yanked.add(version)
                continue
            if not profile.accepts_python(f.requires_python):
                out.wrong_python.setdefault(version, f.requires_python or "")
                continue
            usable.append(f)
        usable = _one_copy_each(usable)
        wheels = sorted(
            (f for f in usable if f.is_wheel and tag_rank(f.tags, ranks) is not None),
            key=lambda f: (tag_rank(f.tags, ranks), f.filename),
        )
        sdists = [f for f in usable if not f.is_wheel]
        if wheels:
            out.candidates[version] = wheels
        elif sdists and options.sdist_allowed(sdists[0].name):
            out.candidates[version] = sdists[:1]
        elif usable:
            out.no_wheel[version] = bool(sdists)
    return out


def _one_copy_each(files: Sequence[DistFile]) -> list[DistFile]:
    """One file per name, from the first source that lists it (indexes in their configured
    order, then find-links): a machine-local copy of a file the index has must not change
    the lock, or the same inputs give another lock on every machine."""
    first: dict[str, DistFile] = {}
    for f in files:
        kept = first.setdefault(f.filename, f)
        if kept is not f and f.sha256 and kept.sha256 and f.sha256 != kept.sha256:
            log.warning(
                "%s on %s differs from the copy on %s (another sha256); locking the one on %s",
                f.filename,
                f.index,
                kept.index,
                kept.index,
            )
    return list(first.values())


def pinned_exactly(spec: SpecifierSet) -> bool:
    return any(s.operator in ("==", "===") and "*" not in s.version for s in spec)


def parse_cutoff(text: str) -> datetime:
    """`--exclude-newer`: an ISO date (the whole day counts) or date-time; UTC if no zone."""
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            day = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
            return day.replace(hour=23, minute=59, second=59, microsecond=999999)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise UsageError(f"--exclude-newer: not a date {text!r} (use YYYY-MM-DD)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)

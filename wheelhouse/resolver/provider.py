"""The resolvelib provider: what is special about resolving for an image.

Markers, tags and Requires-Python come from the Profile. The image's installed packages are
offered as their installed copies only, unless the `Policy` releases a name (then the
image's copy first, newer index releases after it): resolve() releases a name only when
something the user asked for cannot do with the image's copy. Extras that the final
environment activates (`model.extras`) add their requirements. Metadata is read leniently;
a release whose metadata cannot be read is skipped, with the reason kept. The world is read
through a small `Repository` interface, so this module does no I/O.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider

from wheelhouse.errors import HashMismatch, NetworkError, UsageError, WheelhouseError
from wheelhouse.model.extras import active_extras
from wheelhouse.model.legacy import parse_lenient
from wheelhouse.model.profile import InstalledDist, Profile
from wheelhouse.model.requirements import Req
from wheelhouse.net.metadata import CoreMetadata
from wheelhouse.net.pages import DistFile
from wheelhouse.resolver.candidates import Filtered, Options, filter_files, pinned_exactly

log = logging.getLogger("wheelhouse")


class Repository(Protocol):
    """What resolution needs to know about the world."""

    def files(self, name: NormalizedName) -> Sequence[DistFile]: ...

    def metadata(self, file: DistFile) -> CoreMetadata: ...

    def exists(self, name: NormalizedName) -> bool: ...

    def sources(self) -> list[str]:
        """Where packages were looked for, for messages (no credentials)."""
        ...

    def prefetch(
        self,
        names: Iterable[NormalizedName],
        choose: Callable[[Sequence[DistFile]], DistFile | None],
    ) -> None: ...

    def warm(self, files: Sequence[DistFile]) -> None:
        """Start reading these files' metadata now; `metadata` will be asked for it soon."""
        ...


@dataclass(frozen=True)
class Candidate:
    name: NormalizedName
    version: Version
    extras: frozenset[str] = frozenset()
    files: tuple[DistFile, ...] = ()  # fitting files, best first
    installed: InstalledDist | None = None  # set: this is the image's own copy

    @property
    def shown(self) -> str:
        return f"{self.name} {self.version}" + (" (image)" if self.installed else "")


Ident = str
Pref = tuple[bool, bool, bool, str]
ACTIVE_MARK = "(active extra)"  # in the source of a requirement an active extra adds
WARM_AHEAD = 4  # older releases whose metadata is read ahead while backtracking


@dataclass(frozen=True)
class Policy:
    """What one resolution pass may do with the image.

    released: image packages that may be replaced (their copy is still tried first);
    present: names in the environment (image + lock) whose extras count as active;
    honour_extras: False turns active extras off (`lock --ignore-active-extras`).
    """

    released: frozenset[NormalizedName] = frozenset()
    present: frozenset[NormalizedName] = frozenset()
    honour_extras: bool = True


@dataclass
class MetadataNotes:
    """What reading metadata met: releases skipped as unreadable (with the reason) and legacy
    spellings read leniently."""

    unreadable: dict[tuple[NormalizedName, Version], str] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)  # legacy spellings read leniently


def identify(name: str, extras: Iterable[str]) -> Ident:
    ex = sorted(extras)
    return f"{name}[{','.join(ex)}]" if ex else name


class Provider(AbstractProvider[Req, Candidate, str]):
    def __init__(
        self,
        profile: Profile,
        repository: Repository,
        options: Options,
        user_names: set[NormalizedName],
    ) -> None:
        self.profile = profile
        self.repo = repository
        self.options = options
        self.ranks = profile.tag_priority()
        self.image = profile.installed_map()
        self.user_names = user_names
        self.policy = Policy()
        self.notes = MetadataNotes()
        self._meta: dict[tuple[NormalizedName, Version], CoreMetadata | None] = {}
        self._reqs: dict[tuple[NormalizedName, Version, bool], tuple[Requirement, ...]] = {}
        self._filtered: dict[tuple[NormalizedName, bool], Filtered] = {}

    # identity & preference
    def identify(self, requirement_or_candidate: Req | Candidate) -> Ident:
        return identify(requirement_or_candidate.name, requirement_or_candidate.extras)

    def get_preference(
        self,
        identifier: Ident,
        resolutions: Mapping[Ident, Candidate],
        candidates: Mapping[Ident, Iterator[Candidate]],
        information: Mapping[Ident, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> Pref:
        infos = list(information[identifier])
        pinned = any(pinned_exactly(i.requirement.specifier) for i in infos)
        in_image = identifier.split("[")[0] in self.image
        cause = any(c.requirement.name == identifier.split("[")[0] for c in backtrack_causes)
        return (not cause, not pinned, not in_image, identifier)

    # candidates
    def find_matches(
        self,
        identifier: Ident,
        requirements: Mapping[Ident, Iterator[Req]],
        incompatibilities: Mapping[Ident, Iterator[Candidate]],
    ) -> Iterable[Candidate] | Callable[[], Iterator[Candidate]]:
        reqs = list(requirements[identifier])
        name = reqs[0].name if reqs else canonicalize_name(identifier.split("[")[0])
        extras = reqs[0].extras if reqs else frozenset()
        spec = SpecifierSet()
        for r in reqs:
            spec &= r.specifier
        bad = {c.version for c in incompatibilities[identifier]}
        installed = self.image.get(name)
        if installed is None:
            # A factory, not a generator: resolvelib lists a plain iterable in full, which
            # would fetch the metadata of every version; a callable is consumed lazily.
            return lambda: self._index_candidates(name, extras, spec, bad)
        v = Version(installed.version)
        own = [Candidate(name, v, extras, installed=installed)]
        kept = own if spec.contains(v, prereleases=True) and v not in bad else []
        if name not in self.policy.released:
            # The image's copy or nothing: backtracking must look for other releases of
            # the other packages before anything replaces what the image has.
            return kept
        return lambda: itertools.chain(kept, self._index_candidates(name, extras, spec, bad | {v}))

    def _index_candidates(
        self, name: NormalizedName, extras: frozenset[str], spec: SpecifierSet, bad: set[Version]
    ) -> Iterator[Candidate]:
        constraint = self.options.constraints.get(name)
        full = spec & constraint if constraint is not None else spec
        filtered = self.filtered(name, pinned_exactly(spec))
        versions = [v for v in filtered.candidates if v not in bad]
        allowed = list(full.filter(versions))
        ordered = self._wheels_first(filtered, self.options.preferred_first(name, allowed))
        for i, version in enumerate(ordered):
            if i:  # backtracking has reached older releases: read the next few at once
                ahead = ordered[i + 1 : i + 1 + WARM_AHEAD]
                self.repo.warm([filtered.candidates[v][0] for v in ahead])
            files = tuple(filtered.candidates[version])
            meta = self.metadata(name, version, files)
            if meta is None:
                continue
            if not self.profile.accepts_python(meta.requires_python):
                continue
            yield Candidate(name, version, extras, files)

    def _wheels_first(self, filtered: Filtered, versions: list[Version]) -> list[Version]:
        """With `lock --allow-sdist`, every version that has a fitting wheel before any that
        would have to be built from its sdist (each group in the order given)."""
        if not self.options.sdists:
            return versions
        return sorted(versions, key=lambda v: not filtered.candidates[v][0].is_wheel)

    def filtered(self, name: NormalizedName, allow_yanked: bool) -> Filtered:
        """The project's files sorted out for the target (once per name and yanked-ness)."""
        key = (name, allow_yanked)
        if key not in self._filtered:
            self._filtered[key] = filter_files(
                self.repo.files(name),
                self.profile,
                self.options,
                self.ranks,
                allow_yanked=allow_yanked,
            )
        return self._filtered[key]

    def metadata(
        self, name: NormalizedName, version: Version, files: tuple[DistFile, ...]
    ) -> CoreMetadata | None:
        """A release's metadata, None (skipped, with one warning) where it cannot be read."""
        key = (name, version)
        if key not in self._meta:
            self._meta[key] = self._read_metadata(name, version, files[0])
        return self._meta[key]

    def _read_metadata(
        self, name: NormalizedName, version: Version, file: DistFile
    ) -> CoreMetadata | None:
        try:
            meta = self.repo.metadata(file)
            self._parsed(f"{name} {version}", meta.requires_dist, strict=True)
        except (NetworkError, HashMismatch):
            raise  # the index is unreachable, or not what it vouched for: not this release
        except WheelhouseError as exc:
            reason = str(exc)
            self.notes.unreadable[(name, version)] = reason
            log.warning("skipping %s %s: its metadata cannot be read (%s)", name, version, reason)
            return None
        if self._needs_build(file, meta):
            meta = self._built_metadata(file, meta)  # its own errors: they say what to do
        return meta

    def _needs_build(self, f: DistFile, meta: CoreMetadata) -> bool:
        """A locked sdist whose PKG-INFO may not say what its wheel will require."""
        return (
            not f.is_wheel
            and bool(self.options.sdists)
            and not self.options.allow_sdist
            and not meta.static_requirements
        )

    def _built_metadata(self, f: DistFile, meta: CoreMetadata) -> CoreMetadata:
        python = self.options.build_with
        if python is None:
            why = (
                f"Metadata-Version {meta.metadata_version or '?'}"
                if not meta.dynamic
                else f"Dynamic: {', '.join(meta.dynamic)}"
            )
            raise UsageError(
                f"{f.filename}: no wheel of any acceptable version of {f.name} fits the "
                f"target, and its sdist's requirements are not static ({why}); give "
                "--build-with PYTHON (the target's interpreter) to build its metadata"
            )
        from wheelhouse.resolver.builds import build_at_lock

        build = build_at_lock(self.repo, self.profile, self.options, f, python)  # type: ignore[arg-type]
        return build.metadata

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        return requirement.specifier.contains(candidate.version, prereleases=True)

    # dependencies
    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        source = candidate.shown
        deps: list[Req] = []
        if candidate.extras:
            deps.append(
                Req(
                    candidate.name,
                    frozenset(),
                    SpecifierSet(f"=={candidate.version}"),
                    "dependency",
                    source,
                    f"{candidate.name}=={candidate.version}",
                )
            )
        requirements = self.requirements(candidate)
        for r in requirements:
            if candidate.extras:
                # base requirements come through the base candidate; here only the extras'
                if r.marker is None or not _mentions_extra(r.marker):
                    continue
                if not self.profile.evaluate(r.marker, candidate.extras):
                    continue
            elif not self.profile.evaluate(r.marker, ("",)):
                continue
            deps.append(_req(r, source))
        if not candidate.extras:
            deps += self._active_extra_deps(candidate, requirements)
        self.repo.prefetch({d.name for d in deps if d.name not in self.image}, self.best_file)
        return deps

    def _active_extra_deps(
        self, candidate: Candidate, requirements: Sequence[Requirement]
    ) -> list[Req]:
        """The requirements of the extras the environment turns on by itself: only version
        bounds on what is there anyway, so they never add a package."""
        if not self.policy.honour_extras or not self.policy.present:
            return []
        present = dict.fromkeys(self.policy.present)
        declared = self.declared_extras(candidate)
        out = []
        for extra, reqs in active_extras(
            candidate.name, requirements, present, self.profile, declared
        ):
            source = f"{candidate.shown} [{extra}] {ACTIVE_MARK}"
            out += [_req(r, source, drop_extras=True) for r in reqs]
        return out

    def declared_extras(self, candidate: Candidate) -> tuple[str, ...]:
        if candidate.installed is not None:
            return ()
        meta = self.metadata(candidate.name, candidate.version, candidate.files)
        return meta.provides_extra if meta else ()

    def requirements(self, candidate: Candidate) -> tuple[Requirement, ...]:
        """Requires-Dist parsed (leniently) for one candidate."""
        image = candidate.installed is not None
        key = (candidate.name, candidate.version, image)
        if key not in self._reqs:
            texts = self.requires_dist(candidate)
            # an image package is there whatever its metadata says: drop what cannot be read
            self._reqs[key] = self._parsed(candidate.shown, texts, strict=not image)
        return self._reqs[key]

    def _parsed(self, who: str, texts: Sequence[str], strict: bool) -> tuple[Requirement, ...]:
        out = []
        for text in texts:
            try:
                lenient = parse_lenient(text)
            except InvalidRequirement as exc:
                if strict:
                    raise WheelhouseError(f"malformed Requires-Dist {text!r}: {exc}") from None
                log.warning("%s: ignoring its malformed Requires-Dist %r", who, text)
                continue
            note = f"{who}: {lenient.fixed}"
            if lenient.fixed and note not in self.notes.fixed:
                self.notes.fixed.append(note)
                log.warning("%s", note)
            out.append(lenient.requirement)
        return tuple(out)

    def requires_dist(self, candidate: Candidate) -> tuple[str, ...]:
        if candidate.installed is not None:
            return candidate.installed.requires_dist or ()
        meta = self.metadata(candidate.name, candidate.version, candidate.files)
        return meta.requires_dist if meta else ()

    def best_file(self, files: Sequence[DistFile]) -> DistFile | None:
        """The file whose metadata a prefetch should warm: newest fitting version's best."""
        if not files:
            return None
        name = files[0].name
        filtered = filter_files(files, self.profile, self.options, self.ranks)
        constraint = self.options.constraints.get(name)
        versions = list(filtered.candidates)
        if constraint is not None:
            versions = list(constraint.filter(versions))
        versions = list(SpecifierSet().filter(versions)) or versions
        if not versions:
            return None
        return filtered.candidates[self.options.preferred_first(name, versions)[0]][0]


def _req(r: Requirement, source: str, drop_extras: bool = False) -> Req:
    return Req(
        canonicalize_name(r.name),
        frozenset() if drop_extras else frozenset(canonicalize_name(e) for e in r.extras),
        r.specifier,
        "dependency",
        source,
        str(r),
    )


def _mentions_extra(marker: Marker) -> bool:
    return "extra" in str(marker)

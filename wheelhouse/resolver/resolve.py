"""Resolution for the target, over a small repository interface. No I/O here.

resolvelib (the resolver pip uses) drives the search; this module supplies what is special
about wheelhouse: markers, tags and Requires-Python come from the Profile, and the image's
installed packages stay at their versions unless a requirement excludes that version
(an override), which is allowed only while every image package that depends on it still
accepts the new version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Union

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep

from wheelhouse.errors import ResolutionError, UsageError
from wheelhouse.model.filenames import tag_rank
from wheelhouse.model.profile import InstalledDist, Profile
from wheelhouse.model.requirements import Req
from wheelhouse.net.metadata import CoreMetadata
from wheelhouse.net.simple import DistFile

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


@dataclass(frozen=True)
class Options:
    exclude_newer: datetime | None = None
    allow_sdist: bool = False  # use an sdist's metadata when no wheel fits (image profiles)
    constraints: Mapping[NormalizedName, SpecifierSet] = field(default_factory=dict)


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


def identify(name: str, extras: Iterable[str]) -> Ident:
    ex = sorted(extras)
    return f"{name}[{','.join(ex)}]" if ex else name


@dataclass(frozen=True)
class Resolved:
    name: NormalizedName
    version: str
    files: tuple[DistFile, ...]
    image: InstalledDist | None  # the image's copy of this name, if any
    from_image: bool  # True: the image's copy is used as is
    requires_dist: tuple[str, ...]
    requires_python: str | None
    via: tuple[str, ...]
    reachable: bool  # needed by the user's requirements (not only by the image)


@dataclass(frozen=True)
class Resolution:
    packages: tuple[Resolved, ...]
    notes: tuple[str, ...] = ()


# -- choosing files for the target (pure) ------------------------------------------


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
        wheels = sorted(
            (f for f in usable if f.is_wheel and tag_rank(f.tags, ranks) is not None),
            key=lambda f: (tag_rank(f.tags, ranks), f.filename),
        )
        sdists = [f for f in usable if not f.is_wheel]
        if wheels:
            out.candidates[version] = wheels
        elif sdists and options.allow_sdist:
            out.candidates[version] = sdists[:1]
        elif usable:
            out.no_wheel[version] = bool(sdists)
    return out


def _pinned_exactly(spec: SpecifierSet) -> bool:
    return any(s.operator in ("==", "===") and "*" not in s.version for s in spec)


# -- the resolvelib provider ----------------------------------------------------------


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
        self._meta: dict[tuple[NormalizedName, Version], CoreMetadata] = {}
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
        pinned = any(_pinned_exactly(i.requirement.specifier) for i in infos)
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
        if installed is not None:
            v = Version(installed.version)
            if spec.contains(v, prereleases=True):
                # The image's copy stays. Backtracking may find it incompatible, but that
                # is no reason to replace it: only a requirement that excludes it is.
                return [] if v in bad else [Candidate(name, v, extras, installed=installed)]
        # A factory, not a generator: resolvelib lists a plain iterable in full, which
        # would fetch the metadata of every version; a callable is consumed lazily.
        return lambda: self._index_candidates(name, extras, spec, bad)

    def _index_candidates(
        self, name: NormalizedName, extras: frozenset[str], spec: SpecifierSet, bad: set[Version]
    ) -> Iterator[Candidate]:
        constraint = self.options.constraints.get(name)
        full = spec & constraint if constraint is not None else spec
        filtered = self.filtered(name, _pinned_exactly(spec))
        versions = [v for v in filtered.candidates if v not in bad]
        allowed = set(full.filter(versions))
        for version in sorted(allowed, reverse=True):
            files = tuple(filtered.candidates[version])
            meta = self.metadata(name, version, files)
            if meta is None:
                continue
            if not self.profile.accepts_python(meta.requires_python):
                continue
            yield Candidate(name, version, extras, files)

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
        key = (name, version)
        if key not in self._meta:
            self._meta[key] = self.repo.metadata(files[0])
        return self._meta[key]

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        return requirement.specifier.contains(candidate.version, prereleases=True)

    # dependencies
    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        source = f"{candidate.name} {candidate.version}" + (
            " (image)" if candidate.installed else ""
        )
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
        for text in self.requires_dist(candidate):
            try:
                r = Requirement(text)
            except InvalidRequirement as exc:
                raise UsageError(f"{source} has a malformed Requires-Dist {text!r}: {exc}") from exc
            if candidate.extras:
                # base requirements come through the base candidate; here only the extras'
                if r.marker is None or not _mentions_extra(r.marker):
                    continue
                if not self.profile.evaluate(r.marker, candidate.extras):
                    continue
            elif not self.profile.evaluate(r.marker, ("",)):
                continue
            deps.append(
                Req(
                    canonicalize_name(r.name),
                    frozenset(canonicalize_name(e) for e in r.extras),
                    r.specifier,
                    "dependency",
                    source,
                    text,
                )
            )
        self.repo.prefetch({d.name for d in deps if d.name not in self.image}, self.best_file)
        return deps

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
        return filtered.candidates[max(versions)][0]


def _mentions_extra(marker: Marker) -> bool:
    return "extra" in str(marker)


class _Reporter(BaseReporter[Req, Candidate, str]):
    def __init__(self) -> None:
        self.rounds = 0

    def starting_round(self, index: int) -> None:
        self.rounds = index


# -- the entry point ------------------------------------------------------------------


RootSpec = Union[Req, str]


def resolve(
    requirements: Sequence[Req],
    profile: Profile,
    repository: Repository,
    options: Options | None = None,
) -> Resolution:
    """Resolve `requirements` for `profile`, keeping the image's packages where they are."""
    options = options or Options()
    user = [r for r in requirements if r.origin == "user"]
    user_names = {r.name for r in user}
    image_roots = [
        Req(d.name, frozenset(), SpecifierSet(), "image", "image", d.name)
        for d in profile.installed
    ]
    repository.prefetch(
        user_names - set(profile.installed_map()),
        Provider(profile, repository, options, user_names).best_file,
    )
    provider = Provider(profile, repository, options, user_names)
    resolver: Resolver[Req, Candidate, Ident] = Resolver(provider, _Reporter())
    try:
        result = resolver.resolve([*user, *image_roots], max_rounds=20000)
    except ResolutionImpossible as exc:
        raise ResolutionError(explain_conflict(list(exc.causes), provider)) from None
    except ResolutionTooDeep as exc:
        raise ResolutionError(
            f"gave up after {exc.round_count} rounds of backtracking; "
            "pin some versions to narrow the search"
        ) from None
    return _collect(result, provider, user)


def _collect(result: Any, provider: Provider, user: Sequence[Req]) -> Resolution:
    mapping: Mapping[Ident, Candidate] = result.mapping
    graph = result.graph
    user_idents = {identify(r.name, r.extras) for r in user}
    # reachability from the user's requirements
    reach: set[Ident] = set()
    stack = [i for i in user_idents if i in mapping]
    while stack:
        ident = stack.pop()
        if ident in reach:
            continue
        reach.add(ident)
        stack.extend(c for c in graph.iter_children(ident) if c not in reach)
    sources = {r.name: r.source for r in user}
    via: dict[NormalizedName, set[str]] = {}
    for ident in mapping:
        name = mapping[ident].name
        for parent in graph.iter_parents(ident):
            if parent is None:
                if name in sources:
                    src = sources[name]
                    shown = (
                        "command line"
                        if src.startswith("argument")
                        else f"-r {src.rsplit(':', 1)[0]}"
                    )
                    via.setdefault(name, set()).add(shown)
                continue
            pname = mapping[parent].name
            if pname != name:
                via.setdefault(name, set()).add(str(pname))
    packages: dict[NormalizedName, Resolved] = {}
    for cand in mapping.values():
        if cand.name in packages:
            continue
        base = mapping.get(cand.name, cand)
        reachable = any(i in reach for i in mapping if mapping[i].name == cand.name)
        image = provider.image.get(cand.name)
        if base.installed is not None:
            requires, rp = base.installed.requires_dist or (), base.installed.requires_python
        else:
            meta = provider.metadata(base.name, base.version, base.files)
            requires = meta.requires_dist if meta else ()
            rp = meta.requires_python if meta else None
        packages[cand.name] = Resolved(
            name=cand.name,
            version=str(base.version),
            files=base.files,
            image=image,
            from_image=base.installed is not None,
            requires_dist=tuple(requires),
            requires_python=rp,
            via=tuple(sorted(via.get(cand.name, ()))),
            reachable=reachable,
        )
    return Resolution(tuple(sorted(packages.values(), key=lambda p: p.name)))


def explain_conflict(causes: Sequence[Any], provider: Provider) -> str:
    """A message a person can act on: who requires what, or why nothing fits the target."""
    lines: list[str] = []
    by_name: dict[str, list[Any]] = {}
    for c in causes:
        by_name.setdefault(c.requirement.name, []).append(c)
    for name, items in by_name.items():
        items = _culprits(items)
        chain = []
        for c in items:
            req: Req = c.requirement
            if c.parent is None:
                if req.origin == "image":
                    installed = provider.image.get(req.name)
                    shown = installed.version if installed else ""
                    chain.append(f"the image has {req.name} {shown}".strip())
                else:
                    chain.append(f"you asked {req.shown} ({req.source})")
            else:
                chain.append(f"{c.parent.shown} requires {req.shown}")
        spec = SpecifierSet()
        for c in items:
            spec &= c.requirement.specifier
        if len(chain) > 1 or any(c.parent is not None for c in items):
            lines.append("; ".join(dict.fromkeys(chain)))
        if len(chain) > 1:
            if any(
                c.requirement.origin == "image" or (c.parent is not None and c.parent.installed)
                for c in items
            ):
                lines.append(
                    f"an override of the image's {name} must still satisfy every "
                    "image package that depends on it"
                )
            continue
        hint = explain_no_candidates(canonicalize_name(name), spec, provider)
        if hint:
            lines.append(hint if len(chain) > 1 else f"{'; '.join(chain)}: {hint}")
        elif len(chain) == 1 and not lines:
            lines.append(chain[0])
    body = "\n  ".join(dict.fromkeys(lines))
    return (
        f"no versions satisfy the requirements for {provider.profile.name} "
        f"(Python {provider.profile.python_version}):\n  {body}"
    )


def _culprits(items: list[Any]) -> list[Any]:
    """Drop the packages that accept what the user pinned: they are not in the way."""
    pins = [
        Version(spec.version)
        for c in items
        if c.parent is None and c.requirement.origin == "user"
        for spec in c.requirement.specifier
        if spec.operator == "==" and "*" not in spec.version
    ]
    if not pins:
        return items
    kept = [
        c
        for c in items
        if c.parent is None or not all(c.requirement.specifier.contains(v, True) for v in pins)
    ]
    return kept if any(c.parent is not None for c in kept) else items


def explain_no_candidates(name: NormalizedName, spec: SpecifierSet, provider: Provider) -> str:
    """Why no candidate of `name` matched `spec` on the target ('' if some exist)."""
    image = provider.image.get(name)
    repo = provider.repo
    files = repo.files(name)
    if not files:
        if image is not None:
            return ""
        searched = ", ".join(repo.sources()) or "no index or find-links at all"
        if not repo.exists(name):
            return f"no project named {name!r} (searched: {searched})"
        return f"{name} has no files (searched: {searched})"
    filtered = filter_files(
        files,
        provider.profile,
        provider.options,
        provider.ranks,
        allow_yanked=_pinned_exactly(spec),
    )
    matching = list(spec.filter(filtered.candidates))
    if matching:
        return ""
    all_versions = {f.version for f in files}
    wanted = sorted(spec.filter(all_versions, prereleases=True), reverse=True)
    newest_fit = max(filtered.candidates) if filtered.candidates else None
    parts = []
    if not wanted:
        newest = max(all_versions)
        parts.append(f"{name} has no version matching {spec or 'any'} (newest is {newest})")
    else:
        top = wanted[0]
        reason = []
        if top in filtered.wrong_python:
            # the most common reason by far (numpy 2 on Python 3.7): say it first
            reason.append(
                f"requires Python {filtered.wrong_python[top]} "
                f"(the target has {provider.profile.python_version})"
            )
        if top in filtered.no_wheel:
            reason.append(
                f"no wheel for the target's tags (looked for "
                f"{', '.join(provider.profile.tags[:3])}, … "
                f"{len(provider.profile.tags)} tags in all)"
            )
            reason.append(
                "an sdist exists but wheelhouse locks wheels only"
                if filtered.no_wheel[top]
                else "and no sdist for it either"
            )
        if top in filtered.too_new:
            reason.append(f"uploaded after --exclude-newer {provider.options.exclude_newer}")
        if top in filtered.yanked:
            reason.append("yanked")
        if not reason:
            reason.append(
                f"its metadata's Requires-Python excludes {provider.profile.python_version}"
            )
        parts.append(f"{name} {top}: " + "; ".join(reason))
    if newest_fit is not None:
        parts.append(f"the newest {name} with a wheel for the target is {newest_fit}")
    else:
        parts.append(f"no version of {name} has a wheel for the target")
    if filtered.no_time:
        parts.append(
            f"{filtered.no_time} file(s) have no upload time and were skipped under --exclude-newer"
        )
    return "; ".join(parts)

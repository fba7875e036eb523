"""Resolution for the target: `resolve(requirements, profile, repository) -> Resolution`.

resolvelib (the resolver pip uses) drives the search over the provider; this module starts
it with the user's requirements and the image's packages as roots, and collects the answer:
each package's version, files, where it came from and whether the user's requirements reach
it. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from resolvelib import BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep

from wheelhouse.errors import ResolutionError
from wheelhouse.model.profile import InstalledDist, Profile
from wheelhouse.model.requirements import Req
from wheelhouse.net.pages import DistFile
from wheelhouse.progress import Counter, Progress
from wheelhouse.resolver.candidates import Options
from wheelhouse.resolver.explain import explain_conflict
from wheelhouse.resolver.provider import Candidate, Ident, Provider, Repository, identify


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


class _Reporter(BaseReporter[Req, Candidate, str]):
    def __init__(self, step: Counter) -> None:
        self.rounds = 0
        self.step = step

    def starting_round(self, index: int) -> None:
        self.rounds = index

    def pinning(self, candidate: Candidate) -> None:
        self.step.advance(candidate.shown)  # each choice, for progress (backtracking too)


def resolve(
    requirements: Sequence[Req],
    profile: Profile,
    repository: Repository,
    options: Options | None = None,
    progress: Progress | None = None,
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
    step = Counter(progress, f"resolving for {profile.name}", None)
    step.start()
    resolver: Resolver[Req, Candidate, Ident] = Resolver(provider, _Reporter(step))
    try:
        result = resolver.resolve([*user, *image_roots], max_rounds=20000)
    except ResolutionImpossible as exc:
        raise ResolutionError(explain_conflict(list(exc.causes), provider)) from None
    except ResolutionTooDeep as exc:
        raise ResolutionError(
            f"gave up after {exc.round_count} rounds of backtracking; "
            "pin some versions to narrow the search"
        ) from None
    finally:
        step.finish()
    return _collect(result, provider, user)


def _collect(result: Any, provider: Provider, user: Sequence[Req]) -> Resolution:
    """The resolver's answer as one Resolved per project."""
    mapping: Mapping[Ident, Candidate] = result.mapping
    graph = result.graph
    reached = _reached(graph, mapping, {identify(r.name, r.extras) for r in user})
    via = _via(graph, mapping, {r.name: r.source for r in user})
    packages: dict[NormalizedName, Resolved] = {}
    for cand in mapping.values():
        if cand.name not in packages:
            base = mapping.get(cand.name, cand)  # the project itself, not one of its extras
            packages[cand.name] = _resolved(base, provider, via, cand.name in reached)
    return Resolution(tuple(sorted(packages.values(), key=lambda p: p.name)))


def _reached(graph: Any, mapping: Mapping[Ident, Candidate], roots: set[Ident]) -> set[str]:
    """Names of the projects the user's requirements reach (not only the image's)."""
    reach: set[Ident] = set()
    stack = [i for i in roots if i in mapping]
    while stack:
        ident = stack.pop()
        if ident not in reach:
            reach.add(ident)
            stack.extend(c for c in graph.iter_children(ident) if c not in reach)
    return {mapping[i].name for i in reach}


def _via(
    graph: Any, mapping: Mapping[Ident, Candidate], sources: Mapping[str, str]
) -> dict[NormalizedName, set[str]]:
    """Who brought each project in: other projects, or where the user asked for it."""
    via: dict[NormalizedName, set[str]] = {}
    for ident, cand in mapping.items():
        for parent in graph.iter_parents(ident):
            if parent is not None:
                if mapping[parent].name != cand.name:
                    via.setdefault(cand.name, set()).add(str(mapping[parent].name))
            elif cand.name in sources:
                via.setdefault(cand.name, set()).add(_shown_source(sources[cand.name]))
    return via


def _shown_source(source: str) -> str:
    """'argument 2' -> 'command line'; 'requirements.in:3' -> '-r requirements.in'."""
    return "command line" if source.startswith("argument") else f"-r {source.rsplit(':', 1)[0]}"


def _resolved(
    base: Candidate, provider: Provider, via: Mapping[NormalizedName, set[str]], reachable: bool
) -> Resolved:
    if base.installed is not None:
        requires, rp = base.installed.requires_dist or (), base.installed.requires_python
    else:
        meta = provider.metadata(base.name, base.version, base.files)
        requires = meta.requires_dist if meta else ()
        rp = meta.requires_python if meta else None
    return Resolved(
        name=base.name,
        version=str(base.version),
        files=base.files,
        image=provider.image.get(base.name),
        from_image=base.installed is not None,
        requires_dist=tuple(requires),
        requires_python=rp,
        via=tuple(sorted(via.get(base.name, ()))),
        reachable=reachable,
    )

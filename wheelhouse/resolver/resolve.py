"""Resolution for the target: `resolve(requirements, profile, repository) -> Resolution`.

resolvelib (the resolver pip uses) drives the search over the provider; this module starts
it with the user's requirements and the image's packages as roots, and collects the answer:
each package's version, files, where it came from and whether the user's requirements reach
it. No I/O here.

How the image is kept: the first pass offers each image package as its installed copy only,
so backtracking looks for other releases of everything else first (as uv does when given
the image's versions as constraints). A user's explicit requirement that excludes the
image's copy releases that name from the start. When a pass fails because a requirement the
user's packages bring in excludes an image package's copy, that name is released (the copy
is still tried first) and the pass runs again: only names proven to be in the way move.
Extras that the final environment turns on (`model.extras`) then add their version bounds,
and the passes repeat until the environment they assume is the one they produce.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, Resolver
from resolvelib.resolvers import RequirementInformation, ResolutionImpossible, ResolutionTooDeep

from wheelhouse.errors import ResolutionError
from wheelhouse.model.extras import ActiveExtra, settle
from wheelhouse.model.profile import InstalledDist, Profile
from wheelhouse.model.requirements import Req
from wheelhouse.net.pages import DistFile
from wheelhouse.progress import Counter, Progress
from wheelhouse.resolver.candidates import Options
from wheelhouse.resolver.explain import explain_conflict, override_chain
from wheelhouse.resolver.provider import (
    ACTIVE_MARK,
    Candidate,
    Ident,
    Policy,
    Provider,
    Repository,
    identify,
)

MAX_ROUNDS = 20000
EXTRA_PASSES = 4  # the environment settles in two passes in practice


@dataclass(frozen=True)
class KeepImage:
    """How far a lock may depart from the image.

    overrides: False makes any override an error naming its chain (`lock --no-overrides`);
    active_extras: False ignores the extras the environment activates.
    """

    overrides: bool = True
    active_extras: bool = True


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
    override_chain: str = ""  # for an override: the requirements that forced it

    @property
    def overrides(self) -> bool:
        return self.image is not None and not self.from_image


@dataclass(frozen=True)
class Resolution:
    packages: tuple[Resolved, ...]
    notes: tuple[str, ...] = ()
    active_extras: tuple[ActiveExtra, ...] = ()
    passes: int = 1  # resolver passes it took (for measurements)


class _Reporter(BaseReporter[Req, Candidate, str]):
    """Counts rounds, reports each choice (progress) and notes every image package a
    conflict showed to be in the way."""

    def __init__(self, provider: Provider, step: Counter) -> None:
        self.rounds = 0
        self.provider = provider
        self.step = step
        self.forced: set[NormalizedName] = set()
        self.active: dict[str, None] = {}  # active-extra requirements met in conflicts

    def starting_round(self, index: int) -> None:
        self.rounds = index

    def resolving_conflicts(
        self, causes: Collection[RequirementInformation[Req, Candidate]]
    ) -> None:
        self.forced |= forced_names(causes, self.provider)
        for c in causes:
            if ACTIVE_MARK in c.requirement.source:
                self.active[f"{c.requirement.source} requires {c.requirement.shown}"] = None

    def pinning(self, candidate: Candidate) -> None:
        self.step.advance(candidate.shown)  # each choice, for progress (backtracking too)


def resolve(
    requirements: Sequence[Req],
    profile: Profile,
    repository: Repository,
    options: Options | None = None,
    progress: Progress | None = None,
    keep: KeepImage = KeepImage(),
) -> Resolution:
    """Resolve `requirements` for `profile`, keeping the image's packages where they are."""
    options = options or Options()
    user = [r for r in requirements if r.origin == "user"]
    user_names = {r.name for r in user}
    image_roots = [
        Req(d.name, frozenset(), SpecifierSet(), "image", "image", d.name)
        for d in profile.installed
    ]
    provider = Provider(profile, repository, options, user_names)
    repository.prefetch(user_names - set(provider.image), provider.best_file)
    roots = [*user, *image_roots]
    policy = Policy(
        released=_user_forced(user, provider.image),
        present=frozenset(provider.image) | frozenset(user_names),
        honour_extras=keep.active_extras,
    )
    step = Counter(progress, f"resolving for {profile.name}", None)
    step.start()
    try:
        result, passes = _settle(provider, roots, policy, keep, step)
    finally:
        step.finish()
    resolution = _collect(result, provider, user, passes)
    if not keep.overrides:
        _refuse_overrides(resolution, profile)
    return resolution


def _settle(
    provider: Provider, roots: list[Req], policy: Policy, keep: KeepImage, step: Counter
) -> tuple[Any, int]:
    """Passes until the environment the active extras assume is the one they produce; the
    result and the number of resolver passes it took."""
    pinned = policy.released  # the user's own: never taken back
    passes = 0
    for _ in range(EXTRA_PASSES):
        result, policy, tries = _resolve_keeping_image(provider, roots, policy, step)
        result, policy, more = _fewest(provider, roots, policy, result, pinned, step)
        passes += tries + more
        present = frozenset(c.name for c in result.mapping.values())
        if not keep.active_extras or present <= policy.present:
            break
        policy = replace(policy, present=policy.present | present)
    return result, passes


def _user_forced(
    user: Sequence[Req], image: Mapping[NormalizedName, InstalledDist]
) -> frozenset[NormalizedName]:
    """Image packages the user's own requirements exclude: a user's pin wins."""
    return frozenset(
        r.name
        for r in user
        if r.name in image
        and not r.specifier.contains(Version(image[r.name].version), prereleases=True)
    )


def forced_names(causes: Iterable[Any], provider: Provider) -> set[NormalizedName]:
    """Image packages whose copy a requirement brought by the user's packages excludes
    (the image's own packages never force a move)."""
    out: set[NormalizedName] = set()
    for c in causes:
        req: Req = c.requirement
        installed = provider.image.get(req.name)
        if installed is None or req.origin == "image":
            continue
        if c.parent is not None and c.parent.installed is not None:
            continue
        if not req.specifier.contains(Version(installed.version), prereleases=True):
            out.add(req.name)
    return out


def _resolve_keeping_image(
    provider: Provider, roots: list[Req], policy: Policy, step: Counter
) -> tuple[Any, Policy, int]:
    """Passes of the resolver, releasing image packages only as conflicts prove them in the
    way; the result, the policy it ended with and the number of passes."""
    for tries in range(1, len(provider.image) + 2):
        provider.policy = policy
        reporter = _Reporter(provider, step)
        resolver: Resolver[Req, Candidate, Ident] = Resolver(provider, reporter)
        try:
            return resolver.resolve(roots, max_rounds=MAX_ROUNDS), policy, tries
        except ResolutionImpossible as exc:
            forced = forced_names(exc.causes, provider) or reporter.forced
            failure: Exception = exc
        except ResolutionTooDeep as exc:
            forced, failure = reporter.forced, exc
        forced -= policy.released
        if not forced:
            raise _failure(failure, provider, list(reporter.active)) from None
        policy = replace(policy, released=policy.released | frozenset(forced))
    raise ResolutionError("no resolution: every image package was released and none fits")


def _fewest(
    provider: Provider,
    roots: list[Req],
    policy: Policy,
    result: Any,
    fixed: frozenset[NormalizedName],
    step: Counter,
) -> tuple[Any, Policy, int]:
    """Fewer overrides where some were released needlessly: resolvelib's backjumping may
    give up on a name that another choice would have kept, so each released name that ended
    up replaced is tried kept once (the user's own pins stay released)."""
    passes = 0
    for name in sorted(_overridden(result, provider.image) - fixed):
        trial = replace(policy, released=policy.released - {name})
        provider.policy = trial
        passes += 1
        try:
            resolver: Resolver[Req, Candidate, Ident] = Resolver(
                provider, _Reporter(provider, step)
            )
            better = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
        except (ResolutionImpossible, ResolutionTooDeep):
            continue
        if len(_overridden(better, provider.image)) < len(_overridden(result, provider.image)):
            result, policy = better, trial
    provider.policy = policy
    return result, policy, passes


def _overridden(result: Any, image: Mapping[NormalizedName, Any]) -> set[NormalizedName]:
    """Image packages the result replaces."""
    return {c.name for c in result.mapping.values() if c.installed is None and c.name in image}


def _failure(exc: Exception, provider: Provider, active: Sequence[str]) -> ResolutionError:
    if isinstance(exc, ResolutionImpossible):
        text = explain_conflict(list(exc.causes), provider)
        if active:
            text += (
                f"\n  in the way too: {'; '.join(active)}\n  (extras the environment "
                "activates; lock --ignore-active-extras leaves them unchecked)"
            )
        return ResolutionError(text)
    rounds = getattr(exc, "round_count", MAX_ROUNDS)
    return ResolutionError(
        f"gave up after {rounds} rounds of backtracking; pin some versions to narrow the search"
    )


def _refuse_overrides(resolution: Resolution, profile: Profile) -> None:
    lines = [
        f"{p.name} {p.version} would replace the image's {p.image.version}: {p.override_chain}"
        for p in resolution.packages
        if p.overrides and p.image is not None
    ]
    if lines:
        raise ResolutionError(
            f"--no-overrides: the requirements cannot keep the image {profile.name} intact:\n  "
            + "\n  ".join(lines)
        )


def _collect(result: Any, provider: Provider, user: Sequence[Req], passes: int) -> Resolution:
    """The resolver's answer as one Resolved per project."""
    mapping: Mapping[Ident, Candidate] = result.mapping
    graph = result.graph
    reached = _reached(graph, mapping, {identify(r.name, r.extras) for r in user})
    via = _via(graph, mapping, {r.name: r.source for r in user})
    packages: dict[NormalizedName, Resolved] = {}
    for cand in mapping.values():
        if cand.name not in packages:
            base = mapping.get(cand.name, cand)  # the project itself, not one of its extras
            resolved = _resolved(base, provider, via, cand.name in reached)
            if resolved.overrides:
                resolved = replace(resolved, override_chain=override_chain(result, base, provider))
            packages[cand.name] = resolved
    bases = {c.name: c for c in mapping.values() if not c.extras}
    return Resolution(
        tuple(sorted(packages.values(), key=lambda p: p.name)),
        notes=_notes(provider),
        active_extras=_active(bases, provider) if provider.policy.honour_extras else (),
        passes=passes,
    )


def _notes(provider: Provider) -> tuple[str, ...]:
    """What the lock's reader should know: legacy metadata read leniently, releases skipped."""
    notes = [f"legacy metadata: {f}" for f in provider.notes.fixed]
    notes += [
        f"skipped {name} {version}: unreadable metadata ({reason.splitlines()[0]})"
        for (name, version), reason in sorted(provider.notes.unreadable.items())
    ]
    return tuple(notes)


def _active(
    bases: Mapping[NormalizedName, Candidate], provider: Provider
) -> tuple[ActiveExtra, ...]:
    """The extras the final environment activates where the lock has a part in them (the
    image's own integrations among themselves are the image's business)."""
    env = {n: (provider.requirements(c), provider.declared_extras(c)) for n, c in bases.items()}
    out = []
    for name, found in sorted(settle(env, provider.profile).items()):
        cand = bases[name]
        for extra, named in found:
            provides = tuple(
                (n, str(bases[n].version), "image" if bases[n].installed else "lock")
                for n in sorted({canonicalize_name(r.name) for r in named})
            )
            if cand.installed is None or any(src == "lock" for _, _, src in provides):
                out.append(ActiveExtra(name, str(cand.version), extra, provides))
    return tuple(out)


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

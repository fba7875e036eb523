"""A `pip check` for the target, done from the host: Requires-Dist against what will be there.

Pure: the distributions (the image's, shadowed by the artifact's) and the target's markers
come in as values; no interpreter is asked anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.model.extras import settle
from wheelhouse.model.legacy import parse_lenient
from wheelhouse.model.profile import Profile


@dataclass(frozen=True)
class DistRequires:
    """One distribution present on the target and what it declares it needs."""

    name: NormalizedName
    version: str
    requires_dist: tuple[str, ...] | None  # None: unknown (not checked)
    origin: str  # "artifact" or "image"

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class DependencyProblem:
    requirer: str  # "name version (origin)"
    requirement: str
    found: str | None  # the version present, None when missing
    extra: str = ""  # the extra of the requirer that brought the requirement in
    active: bool = False  # the extra is active (what it names is present), not requested

    @property
    def unmet(self) -> str:
        """What is wrong, without who needs it."""
        kind = "active extra" if self.active else "extra"
        via = f"with {kind} [{self.extra}] " if self.extra else ""
        if self.found is None:
            return f"{via}requires {self.requirement}, which is not installed"
        return f"{via}requires {self.requirement}, but {self.found} is installed"

    @property
    def message(self) -> str:
        return f"{self.requirer} {self.unmet}"


def check_requirements(
    dists: Sequence[DistRequires], target: Profile, active: bool = True
) -> list[DependencyProblem]:
    """Every unmet Requires-Dist for the target's markers, following requested extras and
    (with `active`) the extras that what is present activates (`model.extras`)."""
    present = {d.name: d for d in dists}
    parsed = {d.name: _parse(d) for d in dists}
    problems = [p for d in dists for p in parsed[d.name][1]]
    todo: list[tuple[NormalizedName, str]] = [(d.name, "") for d in dists]
    activated: set[tuple[NormalizedName, str]] = set()
    if active:
        env = {d.name: (parsed[d.name][0], ()) for d in dists}
        activated = {(n, e) for n, found in settle(env, target).items() for e, _ in found}
        todo += sorted(activated)
    seen: set[tuple[NormalizedName, str]] = set()
    while todo:
        name, extra = todo.pop()
        dist = present.get(name)
        if (name, extra) in seen or dist is None or dist.requires_dist is None:
            continue
        seen.add((name, extra))
        requirer = f"{dist.label} ({dist.origin})"
        is_active = (name, extra) in activated
        for req in parsed[name][0]:
            if not _applies(req, extra, target):
                continue
            dep = present.get(canonicalize_name(req.name))
            if dep is None:
                problems.append(DependencyProblem(requirer, _show(req), None, extra, is_active))
            elif not req.specifier.contains(dep.version, prereleases=True):
                problems.append(
                    DependencyProblem(requirer, _show(req), dep.version, extra, is_active)
                )
            else:
                todo += [(dep.name, canonicalize_name(e)) for e in req.extras]
    return sorted(problems, key=lambda p: (p.requirer, p.requirement))


def _parse(dist: DistRequires) -> tuple[list[Requirement], list[DependencyProblem]]:
    """A distribution's Requires-Dist read leniently; what cannot be read is a problem."""
    reqs, problems = [], []
    for text in dist.requires_dist or ():
        try:
            reqs.append(parse_lenient(text).requirement)
        except InvalidRequirement:
            problems.append(
                DependencyProblem(f"{dist.label} ({dist.origin})", f"{text!r} (malformed)", None)
            )
    return reqs, problems


def _applies(req: Requirement, extra: str, target: Profile) -> bool:
    """For the base set: markers true without extras; for an extra: only what it adds."""
    if not extra:
        return target.evaluate(req.marker, ("",))
    return (
        req.marker is not None
        and target.evaluate(req.marker, (extra,))
        and not target.evaluate(req.marker, ("",))
    )


def _show(req: Requirement) -> str:
    text = req.name + (f"[{','.join(sorted(req.extras))}]" if req.extras else "")
    text += str(req.specifier)
    return text + (f"; {req.marker}" if req.marker else "")

"""Active extras: integrations a package turns on by itself because what they need is there.

Many packages declare an optional dependency under an extra and use it whenever it can be
imported (a gradient-boosting library's scikit-learn wrappers, a dataframe library's optional
engines). The rule: an extra of a package in the final environment (image + lock) is *active*
when every package it names is present there, for the target's markers, and every extra it
asks of them is active too. Its requirements then bind like any other: the lock honours them
and verify checks them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.model.profile import Profile

_EXTRA_IN_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


@dataclass(frozen=True)
class ActiveExtra:
    """One active extra and what it names: ("b", "1.0", "image") per named package."""

    package: NormalizedName
    version: str
    extra: str
    provides: tuple[tuple[NormalizedName, str, str], ...]

    @property
    def shown(self) -> str:
        named = ", ".join(f"{n} {v} from the {src}" for n, v, src in self.provides)
        return f"{self.package}[{self.extra}]: {named}"


def extras_named(requirements: Iterable[Requirement], declared: Iterable[str] = ()) -> list[str]:
    """Every extra a package declares or mentions in its markers, normalised."""
    found = {canonicalize_name(e) for e in declared}
    for req in requirements:
        if req.marker is not None:
            found.update(canonicalize_name(e) for e in _EXTRA_IN_MARKER.findall(str(req.marker)))
    return sorted(found)


def extra_requirements(
    requirements: Iterable[Requirement], extra: str, target: Profile, own: str = ""
) -> list[Requirement]:
    """What `extra` adds for the target: true with it, false without; never the package
    itself (an extra that only turns on other extras names no integration)."""
    return [
        r
        for r in requirements
        if r.marker is not None
        and target.evaluate(r.marker, (extra,))
        and not target.evaluate(r.marker, ("",))
        and canonicalize_name(r.name) != own
    ]


def active_extras(
    name: NormalizedName,
    requirements: Sequence[Requirement],
    present: Mapping[NormalizedName, object],
    target: Profile,
    declared: Iterable[str] = (),
    nested: Callable[[NormalizedName, str], bool] = lambda name, extra: False,
) -> list[tuple[str, list[Requirement]]]:
    """The extras of one package that are active given the names `present`, with what each
    requires. An extra that asks for an extra of another package (`b[x]`) is active only
    where `nested` says that one is (by default it is not: one package alone cannot tell)."""
    out = []
    for extra in extras_named(requirements, declared):
        reqs = extra_requirements(requirements, extra, target, own=name)
        if (
            reqs
            and all(canonicalize_name(r.name) in present for r in reqs)
            and all(
                nested(canonicalize_name(r.name), canonicalize_name(x))
                for r in reqs
                for x in r.extras
            )
        ):
            out.append((extra, reqs))
    return out


Env = Mapping[NormalizedName, tuple[Sequence[Requirement], Iterable[str]]]


def settle(env: Env, target: Profile) -> dict[NormalizedName, list[tuple[str, list[Requirement]]]]:
    """The active extras of a whole environment (name: its requirements and declared
    extras): the largest set in which every extra an active one asks for is active too."""
    active = {
        n: active_extras(n, reqs, env, target, declared, lambda q, x: True)
        for n, (reqs, declared) in env.items()
    }
    while True:
        keys = {(n, e) for n, found in active.items() for e, _ in found}
        kept = {
            n: [
                (e, reqs)
                for e, reqs in found
                if all(
                    (canonicalize_name(r.name), canonicalize_name(x)) in keys
                    for r in reqs
                    for x in r.extras
                )
            ]
            for n, found in active.items()
        }
        if kept == active:
            return kept
        active = kept


def _asked(reqs: Iterable[Requirement]) -> list[tuple[NormalizedName, str]]:
    """The extras of other packages that these requirements ask for."""
    return [(canonicalize_name(r.name), canonicalize_name(x)) for r in reqs for x in r.extras]

"""Requirements as old releases wrote them: read leniently where the meaning is unambiguous.

Current `packaging` rejects specifiers that pip's legacy parser (up to pip 24.0) and uv
accept: `pytz (>dev)`, `>=1.0.*`, `!=3.0*`, `>=1.0<2.0`, a trailing comma. Each fix below
is one that pip or uv makes; anything else stays an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

# (what it fixes, pattern, replacement), applied in order to the specifier part only
_FIXES: tuple[tuple[str, re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # `>=1.9.*`, `<3.4.*`: uv drops the star of an ordering comparison
    (
        "'.*' after an ordering comparison",
        re.compile(r"(<=|>=|<|>)\s*(\d+(?:\.\d+)*)\.\*"),
        r"\1\2",
    ),
    # `!=3.0*`: the dot before the star is missing
    ("'*' without a dot", re.compile(r"(\d)\*"), r"\1.*"),
    # `!=~5.0`
    ("'!=~'", re.compile(r"!=~"), "!="),
    # `>=7.2.0<8.0.0`: no comma between two clauses
    ("a missing comma", re.compile(r"([\w*])\s*(?=(?:[<>=!~]=?|===)\s*\d)"), r"\1,"),
    # `>=3.6,`: a trailing comma
    ("a trailing comma", re.compile(r",\s*(?=\)|;|$)"), ""),
    # `>dev`, `>=dev`: pip's legacy versions sort below every release, so any version passes
    ("a legacy version", re.compile(r"(?:>=|>)\s*(?![\d])([A-Za-z][\w.+-]*)\s*,?"), ""),
)
_SPLIT = re.compile(r"^(?P<head>[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?)\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class Lenient:
    """A requirement read from metadata, and what had to be fixed to read it ('' if nothing)."""

    requirement: Requirement
    fixed: str = ""


def parse_lenient(text: str) -> Lenient:
    """`text` as a Requirement, fixing legacy spellings; InvalidRequirement if it cannot be."""
    try:
        return Lenient(Requirement(text))
    except InvalidRequirement as exc:
        first = exc
    spec, sep, marker = text.partition(";")
    m = _SPLIT.match(spec.strip())
    if m is None:
        raise first
    rest, applied = m.group("rest"), []
    for what, pattern, repl in _FIXES:
        new = pattern.sub(repl, rest)
        if new != rest:
            applied.append(what)
            rest = new
    rest = _empty_parens(rest.strip())
    fixed_text = f"{m.group('head')} {rest}".strip() + (f"; {marker.strip()}" if sep else "")
    try:
        req = Requirement(fixed_text)
    except InvalidRequirement:
        raise first from None
    if not applied or not all(_version_ok(s.version) for s in req.specifier):
        raise first
    return Lenient(req, f"read {text!r} as {str(req)!r} ({', '.join(applied)})")


def _empty_parens(rest: str) -> str:
    """`()` or `(,)` left after dropping every clause means no version constraint."""
    return "" if re.fullmatch(r"\(\s*,?\s*\)", rest) else rest


def _version_ok(text: str) -> bool:
    try:
        Version(text.rstrip(".*"))
    except InvalidVersion:
        return False
    return True

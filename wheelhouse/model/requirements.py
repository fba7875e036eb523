"""Reading requirements files (`-r`, `-c`, comments, continuations) into Reqs with file:line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.errors import UsageError
from wheelhouse.model.profile import Profile


@dataclass(frozen=True)
class Req:
    """One requirement edge, after markers were evaluated for the target."""

    name: NormalizedName
    extras: frozenset[str]
    specifier: SpecifierSet
    origin: str  # "user", "image" or "dependency"
    source: str  # for messages: "requirements.in:3", "pandas 1.3.5", ...
    text: str

    @classmethod
    def parse(cls, text: str, origin: str, source: str) -> Req:
        try:
            r = Requirement(text)
        except InvalidRequirement as exc:
            raise UsageError(f"{source}: malformed requirement {text!r}: {exc}") from exc
        if r.url:
            raise UsageError(f"{source}: direct URL requirements are not supported: {text!r}")
        return cls(
            canonicalize_name(r.name),
            frozenset(canonicalize_name(e) for e in r.extras),
            r.specifier,
            origin,
            source,
            text,
        )

    @property
    def shown(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


@dataclass
class RequirementSet:
    reqs: list[Req] = field(default_factory=list)
    constraints: dict[NormalizedName, SpecifierSet] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # normalised, for the input digest
    skipped: list[str] = field(default_factory=list)  # markers false for the target


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each requirement line: comments dropped, continuations
    joined, as pip reads a requirements file."""
    out, buf, start = [], "", 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buf:
            start = lineno
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def read_requirements(
    files: Sequence[Path],
    args: Sequence[str],
    profile: Profile,
    constraint_files: Sequence[str] = (),
) -> RequirementSet:
    result = RequirementSet()
    seen: set[Path] = set()

    def add(text: str, source: str, constraint: bool) -> None:
        try:
            r = Requirement(text)
        except InvalidRequirement as exc:
            raise UsageError(f"{source}: malformed requirement {text!r}: {exc}") from exc
        result.lines.append(("-c " if constraint else "") + str(r))
        if r.marker is not None and not profile.evaluate(r.marker):
            result.skipped.append(f"{text} ({source}: marker false for the target)")
            return
        if constraint:
            name = canonicalize_name(r.name)
            result.constraints[name] = result.constraints.get(name, SpecifierSet()) & r.specifier
            return
        result.reqs.append(Req.parse(text, "user", source))

    def read_file(path: Path, constraint: bool, origin: str) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{origin}cannot read {path}: {exc.strerror}") from exc
        for lineno, line in logical_lines(text):
            source = f"{path.name}:{lineno}"
            m = re.match(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$", line)
            if m:
                nested = path.parent / m.group(2)
                read_file(nested, constraint or m.group(1) in ("-c", "--constraint"), f"{source}: ")
                continue
            if line.startswith(("-e", "--editable")):
                raise UsageError(
                    f"{source}: editable requirements ({line!r}) cannot be "
                    "locked for another machine; build a wheel and name it"
                )
            if line.startswith("-"):
                raise UsageError(
                    f"{source}: option {line.split()[0]!r} is not supported in requirements "
                    "files; pass index options on the command line or in pip's configuration"
                )
            add(line, source, constraint)

    for f in files:
        read_file(Path(f), False, "")
    for i, text in enumerate(args, 1):
        add(text, f"argument {i}", False)
    for c in constraint_files:
        read_file(Path(c), True, "pip configuration: ")
    if not result.reqs and not result.skipped:
        raise UsageError("no requirements given (use -r FILE or name requirements as arguments)")
    return result

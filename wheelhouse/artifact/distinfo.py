"""What an installed tree's .dist-info folders say: name, version, Requires-Dist, tags and
RECORD, read as they are (verify judges them; nothing here trusts them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.errors import IntegrityError
from wheelhouse.model.record import Row, read_record


@dataclass(frozen=True)
class TreeDist:
    """What one .dist-info folder of the tree says."""

    name: NormalizedName
    version: str
    dist_info: str  # folder name
    requires_dist: tuple[str, ...]
    requires_python: str | None
    tags: tuple[str, ...]
    record: tuple[Row, ...]  # rows relative to site-packages
    record_problem: str = ""  # why RECORD could not be read, if it could not

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def read_dists(site: Path) -> list[TreeDist]:
    out = []
    for info in sorted(site.glob("*.dist-info")):
        meta = _headers(info / "METADATA")
        wheel = _headers(info / "WHEEL")
        record, problem = _record(info)
        name = meta.get("Name") or info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        version = meta.get("Version") or info.name[: -len(".dist-info")].rsplit("-", 1)[-1]
        out.append(
            TreeDist(
                name=canonicalize_name(name),
                version=version,
                dist_info=info.name,
                requires_dist=tuple(meta.get_all("Requires-Dist") or ()),
                requires_python=meta.get("Requires-Python"),
                tags=expand_tags(wheel.get_all("Tag") or ()),
                record=record,
                record_problem=problem,
            )
        )
    return out


def expand_tags(lines: Iterable[str]) -> tuple[str, ...]:
    """WHEEL Tag lines with compressed sets expanded, as installers read them
    (`cp37-cp37m-manylinux_2_17_x86_64.manylinux2014_x86_64` is two tags)."""
    out: dict[str, None] = {}
    for line in lines:
        try:
            out.update((str(t), None) for t in sorted(parse_tag(line.strip()), key=str))
        except ValueError:
            out[line.strip()] = None  # malformed: kept as it is, to be reported
    return tuple(out)


def _record(info: Path) -> tuple[tuple[Row, ...], str]:
    """The RECORD's rows, or why they cannot be read ("" and no rows where it is missing)."""
    path = info / "RECORD"
    if not path.is_file():
        return (), ""
    try:
        return tuple(row for row in read_record(path.read_bytes(), f"{info.name}/RECORD")), ""
    except IntegrityError as exc:
        return (), str(exc)


def _headers(path: Path) -> Message:
    """The headers of a METADATA or WHEEL file (none where it is missing)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return HeaderParser().parsestr(text)

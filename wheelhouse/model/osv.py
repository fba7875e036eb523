"""OSV advisories for PyPI: records read from an OSV export (a zip of JSON files), and the
question they answer: does this advisory affect this version of this project?

OSV's ECOSYSTEM ranges hold PyPI versions: they are compared as PEP 440 versions with
packaging, following the evaluation in the OSV schema (events sorted by version; an
`introduced` turns the range on, `fixed` or past `last_affected` turns it off). Pure: the
zip is read, never trusted: bounded, every malformed record named.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse.errors import UsageError

ECOSYSTEM = "PyPI"
MAX_RECORD = 8 * 1024 * 1024  # bytes of one advisory's JSON
MAX_RECORDS = 1_000_000  # entries of one export (PyPI's had about 20 000 in 2025)


@dataclass(frozen=True)
class Range:
    """One ECOSYSTEM range: its events in order, as (kind, version) pairs."""

    events: tuple[tuple[str, str], ...]

    def contains(self, version: Version) -> bool:
        affected = False
        for kind, at in self._sorted():
            if kind == "introduced" and (at == "0" or version >= Version(at)):
                affected = True
            elif (kind == "fixed" and version >= Version(at)) or (
                kind == "last_affected" and version > Version(at)
            ):
                affected = False
        return affected

    def _sorted(self) -> list[tuple[str, str]]:
        """The events by version ("0", the start of time, first); unreadable ones dropped."""
        out = []
        for kind, at in self.events:
            if kind not in ("introduced", "fixed", "last_affected"):
                continue  # "limit" bounds git ranges only
            try:
                key = Version("0") if at == "0" else Version(at)
            except InvalidVersion:
                continue
            out.append((key, at == "0", kind, at))
        out.sort(key=lambda e: (e[0], not e[1]))
        return [(kind, at) for _, _, kind, at in out]

    @property
    def fixed(self) -> tuple[str, ...]:
        return tuple(at for kind, at in self.events if kind == "fixed")


@dataclass(frozen=True)
class Affected:
    """The part of an advisory about one PyPI project."""

    name: NormalizedName
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()  # listed one by one

    def contains(self, version: str) -> bool:
        try:
            v = Version(version)
        except InvalidVersion:
            return version in self.versions
        if any(_same(v, listed) for listed in self.versions):
            return True
        return any(r.contains(v) for r in self.ranges)


def _same(v: Version, text: str) -> bool:
    try:
        return Version(text) == v
    except InvalidVersion:
        return False


@dataclass(frozen=True)
class Advisory:
    """One OSV record, reduced to what an audit reports."""

    id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    modified: datetime | None = None
    withdrawn: bool = False
    affected: tuple[Affected, ...] = ()

    def affects(self, name: str, version: str) -> bool:
        key = canonicalize_name(name)
        return not self.withdrawn and any(
            a.name == key and a.contains(version) for a in self.affected
        )

    def fixed_versions(self, name: str) -> tuple[str, ...]:
        key = canonicalize_name(name)
        found = {f for a in self.affected if a.name == key for r in a.ranges for f in r.fixed}
        return tuple(sorted(found, key=_version_key))

    def names(self) -> set[str]:
        """The advisory's id and aliases: what `--ignore` may name."""
        return {self.id, *self.aliases}


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


@dataclass(frozen=True)
class AdvisoryDB:
    """The advisories of one export, by project."""

    by_project: Mapping[NormalizedName, tuple[Advisory, ...]] = field(default_factory=dict)
    records: int = 0
    newest: datetime | None = None  # the latest `modified` in the data: how fresh it is

    def matching(self, name: str, version: str) -> list[Advisory]:
        found = self.by_project.get(canonicalize_name(name), ())
        return [a for a in found if a.affects(name, version)]


@dataclass(frozen=True)
class ExportSource:
    """Where a kept export came from and when: an audit says how old its data is."""

    url: str  # without credentials
    fetched: datetime
    sha256: str
    size: int
    last_modified: str | None = None  # the server's, for a conditional request next time
    etag: str | None = None

    def to_json(self) -> str:
        doc = {
            "url": self.url,
            "fetched": self.fetched.astimezone(timezone.utc).isoformat(),
            "sha256": self.sha256,
            "size": self.size,
            "last_modified": self.last_modified,
            "etag": self.etag,
        }
        return json.dumps(doc, indent=1, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> ExportSource | None:
        """The record beside a kept export; None where there is none."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                url=str(doc["url"]),
                fetched=_time(doc["fetched"], str(path), "fetched") or datetime.now(timezone.utc),
                sha256=str(doc["sha256"]),
                size=int(doc["size"]),
                last_modified=doc.get("last_modified"),
                etag=doc.get("etag"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}: unreadable ({exc!r}); sync --advisories again") from exc


def parse_advisory(doc: Any, where: str) -> Advisory:
    """An OSV record (parsed JSON) as an Advisory; malformed ones raise naming `where`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        raise UsageError(f"{where}: not an OSV record (no 'id')")
    try:
        return Advisory(
            id=doc["id"],
            aliases=tuple(str(a) for a in doc.get("aliases") or ()),
            summary=str(doc.get("summary") or doc.get("details") or "").strip()[:300],
            modified=_time(doc.get("modified"), where, "modified"),
            withdrawn=bool(doc.get("withdrawn")),
            affected=tuple(_affected(doc.get("affected") or (), where)),
        )
    except (TypeError, AttributeError, KeyError) as exc:
        raise UsageError(f"{where}: malformed OSV record {doc['id']}: {exc!r}") from exc


def _affected(items: Iterable[Any], where: str) -> Iterator[Affected]:
    for item in items:
        package = item.get("package") or {}
        if package.get("ecosystem") != ECOSYSTEM or not isinstance(package.get("name"), str):
            continue
        ranges = tuple(
            Range(tuple((k, str(v)) for e in r.get("events") or () for k, v in e.items()))
            for r in item.get("ranges") or ()
            if r.get("type") in ("ECOSYSTEM", "SEMVER")
        )
        versions = tuple(str(v) for v in item.get("versions") or ())
        yield Affected(canonicalize_name(package["name"]), ranges, versions)


def _time(text: Any, where: str, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{where}: '{what}' is not a time: {text!r}") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def read_export(path: Path) -> AdvisoryDB:
    """An OSV export zip (one JSON record a member), the PyPI advisories indexed by project."""
    by_project: dict[NormalizedName, list[Advisory]] = {}
    newest: datetime | None = None
    count = 0
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if i.filename.endswith(".json")]
            if len(members) > MAX_RECORDS:
                raise UsageError(f"{path}: {len(members)} records, more than {MAX_RECORDS}")
            for info in members:
                advisory = _member(zf, info, path)
                count += 1
                if advisory.modified and (newest is None or advisory.modified > newest):
                    newest = advisory.modified
                for name in {a.name for a in advisory.affected}:
                    by_project.setdefault(name, []).append(advisory)
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        RuntimeError,  # an encrypted member
        NotImplementedError,  # a compression zipfile cannot undo
        zlib.error,
    ) as exc:
        raise UsageError(f"{path}: not a readable OSV export zip ({exc})") from None
    frozen = {k: tuple(sorted(v, key=lambda a: a.id)) for k, v in by_project.items()}
    return AdvisoryDB(frozen, count, newest)


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> Advisory:
    where = f"{path}:{info.filename}"
    if info.file_size > MAX_RECORD:
        raise UsageError(f"{where}: {info.file_size} bytes, more than an advisory may be")
    with zf.open(info) as f:
        data = f.read(MAX_RECORD + 1)  # the header's size is a claim: read no more than allowed
    if len(data) > MAX_RECORD:
        raise UsageError(f"{where}: more than {MAX_RECORD} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise UsageError(f"{where}: not JSON ({exc})") from None
    return parse_advisory(doc, where)

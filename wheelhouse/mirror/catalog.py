"""The wheelhouse catalog: what each file is, where it came from, and when it was verified.

Kept in ``wheelhouse.json`` so that the index renders the same bytes from the same files, and
so a sync with nothing new skips files by size and mtime instead of rehashing them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from wheelhouse.errors import UsageError
from wheelhouse.files import atomic_write, sha256_file
from wheelhouse.store.layout import METADATA_SUFFIX, Wheelhouse
from wheelhouse.store.provenance import Provenance

CATALOG_FORMAT = 1


@dataclass(frozen=True)
class FileRecord:
    """One distribution file in the wheelhouse."""

    filename: str
    sha256: str
    size: int
    mtime_ns: int  # with size, what the verification vouches for
    upload_time: str | None = None  # ISO 8601 UTC, from the lock when it knew
    requires_python: str | None = None
    metadata_sha256: str | None = None  # of the PEP 658 file beside a wheel
    origin: str | None = None  # URL it was downloaded from, without credentials
    built: Provenance | None = None  # a wheel wheelhouse built from a locked sdist

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.built is not None:
            out["built"] = self.built.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileRecord:
        return cls(
            filename=str(data["filename"]),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            mtime_ns=int(data["mtime_ns"]),
            upload_time=data.get("upload_time"),
            requires_python=data.get("requires_python"),
            metadata_sha256=data.get("metadata_sha256"),
            origin=data.get("origin"),
            built=Provenance.from_dict(data["built"]) if data.get("built") else None,
        )

    def matches_stat(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


def load_catalog(wheelhouse: Wheelhouse) -> dict[str, FileRecord]:
    path = wheelhouse.catalog_path
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable wheelhouse catalog ({exc}); remove it") from exc
    return parse_catalog(text, str(path))


def parse_catalog(text: str, where: str) -> dict[str, FileRecord]:
    """The records of a catalog's text (`where` names it in the error)."""
    try:
        doc = json.loads(text)
        return {r["filename"]: FileRecord.from_dict(r) for r in doc["files"]}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UsageError(f"{where}: unreadable wheelhouse catalog ({exc}); remove it") from exc


def catalog_text(records: Mapping[str, FileRecord]) -> str:
    doc = {
        "format": CATALOG_FORMAT,
        "files": [records[name].to_dict() for name in sorted(records)],
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def save_catalog(wheelhouse: Wheelhouse, records: Mapping[str, FileRecord]) -> None:
    text = catalog_text(records)
    try:
        if wheelhouse.catalog_path.read_text(encoding="utf-8") == text:
            return  # unchanged: no rewrite, no fsync
    except OSError:
        pass
    atomic_write(wheelhouse.catalog_path, text)


def record_for(path: Path, sha256: str, **known: Any) -> FileRecord:
    """A record for a file just verified to have `sha256`."""
    st = path.stat()
    return FileRecord(
        filename=path.name, sha256=sha256, size=st.st_size, mtime_ns=st.st_mtime_ns, **known
    )


def verified(
    wheelhouse: Wheelhouse, records: Mapping[str, FileRecord], filename: str
) -> FileRecord | None:
    """The file's record if it is present and unchanged since verified, else rehash it once."""
    path = wheelhouse.file(filename)
    rec = records.get(filename)
    if rec is not None and rec.matches_stat(path):
        return rec
    if not path.is_file():
        return None
    digest = sha256_file(path)
    if rec is not None:
        return replace(rec, sha256=digest, size=path.stat().st_size, mtime_ns=_mtime(path))
    return record_for(path, digest)


def _mtime(path: Path) -> int:
    return os.stat(path).st_mtime_ns


NOT_CATALOGUED = "not in the catalog"


def rehash_all(wheelhouse: Wheelhouse, records: Mapping[str, FileRecord]) -> dict[str, str]:
    """Every file of the wheelhouse hashed again (size and mtime trusted for nothing):
    filename -> what differs from the catalog, for each file that does."""
    problems: dict[str, str] = {}
    present = set(wheelhouse.distribution_files())
    for name in sorted(present):
        rec = records.get(name)
        digest = sha256_file(wheelhouse.file(name))
        if rec is None:
            problems[name] = NOT_CATALOGUED
        elif digest != rec.sha256:
            problems[name] = f"sha256:{digest} differs from the catalog's sha256:{rec.sha256}"
        elif rec.metadata_sha256 and _metadata_differs(wheelhouse, name, rec.metadata_sha256):
            problems[name] = "its PEP 658 .metadata file differs from the catalog"
    for name in sorted(set(records) - present):
        problems[name] = "in the catalog, missing from files/"
    return problems


def _metadata_differs(wheelhouse: Wheelhouse, name: str, expected: str) -> bool:
    path = wheelhouse.file(name).with_name(name + METADATA_SUFFIX)
    return not path.is_file() or sha256_file(path) != expected


STAMP_FORMAT = 1


def render_sync_stamp(finished: datetime, files: int) -> str:
    """The ``last-sync.json`` a sync without failures leaves: when it finished, how many
    files the index lists (the readiness check dates the wheelhouse by it)."""
    when = finished.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"format": STAMP_FORMAT, "finished": when, "files": files}) + "\n"


def parse_sync_stamp(data: bytes) -> datetime | None:
    """When the sync that wrote `data` finished; None when it is not a stamp."""
    try:
        doc = json.loads(data)
        finished = datetime.strptime(doc["finished"], "%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    return finished.replace(tzinfo=timezone.utc)


def save_sync_stamp(wheelhouse: Wheelhouse, files: int) -> None:
    atomic_write(wheelhouse.sync_stamp_path, render_sync_stamp(datetime.now(timezone.utc), files))

"""`prune`: remove the files no kept lock references, then re-index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wheelhouse.errors import UsageError
from wheelhouse.mirror.catalog import FileRecord, load_catalog, save_catalog, verified
from wheelhouse.mirror.static_index import write_index
from wheelhouse.mirror.wanted import Wanted, load_wanted
from wheelhouse.store.layout import METADATA_SUFFIX, Wheelhouse, writer_lock
from wheelhouse.store.location import is_remote, open_wheelhouse


@dataclass(frozen=True)
class PruneReport:
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    bytes_freed: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": list(self.removed),
            "kept": list(self.kept),
            "bytes_freed": self.bytes_freed,
            "dry_run": self.dry_run,
        }


def referenced(wanted: Sequence[Wanted], records: dict[str, FileRecord]) -> set[str]:
    """File names the locks need: named ones, and for hash-only pins any file with the hash."""
    names = {w.filename for w in wanted if w.filename}
    hashes = {h for w in wanted if not w.filename for h in w.hashes}
    names |= {name for name, rec in records.items() if rec.sha256 in hashes}
    # a wheel built from a kept sdist stays with it
    kept = {records[n].sha256 for n in names if n in records}
    names |= {n for n, rec in records.items() if rec.built and rec.built.sdist_sha256 in kept}
    return names


def prune(
    wheelhouse_dir: Path | str, keep: Sequence[Path], *, dry_run: bool = False
) -> PruneReport:
    """Remove what no lock of `keep` references from a folder or az://CONTAINER/PREFIX."""
    wanted = load_wanted(keep)
    if is_remote(wheelhouse_dir):
        from wheelhouse.mirror.remote import prune_storage

        return prune_storage(open_wheelhouse(wheelhouse_dir), wanted, dry_run=dry_run)
    wh = Wheelhouse(Path(wheelhouse_dir))
    if not wh.files.is_dir():
        raise UsageError(
            f"{wheelhouse_dir} is not a wheelhouse (no files/ folder): nothing to prune"
        )
    with writer_lock(wh):
        records = load_catalog(wh)
        present = wh.distribution_files()
        for name in present:
            rec = verified(wh, records, name)
            if rec is not None:
                records[name] = rec
        needed = referenced(wanted, records)
        doomed = [name for name in present if name not in needed]
        freed = sum((wh.files / name).stat().st_size for name in doomed)
        if not dry_run:
            for name in doomed:
                (wh.files / name).unlink(missing_ok=True)
                (wh.files / (name + METADATA_SUFFIX)).unlink(missing_ok=True)
                records.pop(name, None)
            if wh.partial.is_dir():
                for part in wh.partial.iterdir():
                    if not any(part.name.startswith(f"{n}.") for n in needed):
                        part.unlink(missing_ok=True)
            save_catalog(wh, write_index(wh, records))
    return PruneReport(
        removed=tuple(doomed),
        kept=tuple(n for n in present if n in needed),
        bytes_freed=freed,
        dry_run=dry_run,
    )

"""What a set of locks asks the wheelhouse to hold: one wanted file per to-install pin."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from wheelhouse.errors import IntegrityError
from wheelhouse.model.filenames import tag_rank, tag_ranks
from wheelhouse.model.lock import Lock, LockedFile
from wheelhouse.model.lockfiles import load_lock

if TYPE_CHECKING:
    from wheelhouse.net.pages import DistFile


@dataclass(frozen=True)
class Wanted:
    """One file a lock needs. Without `url` (a plain requirements lock) it is found on the
    configured index by its hashes (and `filename`, when the lock names it)."""

    project: NormalizedName
    version: str
    hashes: tuple[str, ...]  # acceptable sha256 digests
    tags: tuple[str, ...]  # the target's tags, best first: picks among several files
    filename: str | None = None
    url: str | None = None
    upload_time: str | None = None
    requires_python: str | None = None
    size: int | None = None

    @property
    def sha256(self) -> str:
        return self.hashes[0]

    @property
    def describe(self) -> str:
        return self.filename or f"{self.project}=={self.version}"

    def choose(self, files: Sequence[DistFile]) -> DistFile | None:
        """The locked file among an index's `files`: its hash is locked; where several
        are, the wheel with the best tag for the target wins, then any other file."""
        ranks = tag_ranks(self.tags)
        ok = [f for f in files if f.sha256 and f.sha256 in self.hashes]

        def key(f: DistFile) -> tuple[int, str]:
            rank = tag_rank(f.tags, ranks) if f.is_wheel else None
            return (len(ranks) + (0 if f.is_wheel else 1) if rank is None else rank, f.filename)

        return min(ok, key=key) if ok else None


def iso_utc(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wanted_for_lock(lock: Lock) -> list[Wanted]:
    """The best file of each pin the lock installs or builds with (pin.files[0])."""
    out = []
    for pin in lock.to_sync():
        best: LockedFile | None = pin.best_file
        if best is None:
            continue
        if best.url and best.filename:
            hashes: tuple[str, ...] = (best.sha256,)
        else:  # requirements lock: any of the pin's hashes, the index says which file
            hashes = tuple(sorted({f.sha256 for f in pin.files}))
        out.append(
            Wanted(
                project=pin.name,
                version=pin.version,
                hashes=hashes,
                tags=tuple(lock.target.tags),
                filename=best.filename or None,
                url=best.url or None,
                upload_time=iso_utc(best.upload_time),
                requires_python=best.requires_python or pin.requires_python,
                size=best.size,
            )
        )
    return out


def merge_wanted(groups: Iterable[Sequence[Wanted]]) -> list[Wanted]:
    """One entry per file across locks; the same file name with two hashes is an error."""
    by_key: dict[tuple[object, ...], Wanted] = {}
    by_name: dict[str, Wanted] = {}
    for group in groups:
        for w in group:
            if w.filename:
                seen = by_name.get(w.filename)
                if seen is not None and set(seen.hashes).isdisjoint(w.hashes):
                    raise IntegrityError(
                        f"locks disagree on {w.filename}: sha256:{seen.sha256} vs sha256:{w.sha256}"
                    )
                if seen is not None and (seen.url or not w.url):
                    continue
                by_name[w.filename] = w
            else:
                by_key.setdefault((w.project, w.version, w.hashes, w.tags), w)
    return [by_name[n] for n in sorted(by_name)] + list(by_key.values())


def load_wanted(lock_paths: Sequence[Path]) -> list[Wanted]:
    return merge_wanted(wanted_for_lock(load_lock(p)) for p in lock_paths)

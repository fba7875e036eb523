"""Where things live in a wheelhouse folder, and the lock that keeps two writers apart.

Layout (shared with the other commands): ``files/<filename>`` the distribution files (and
their PEP 658 ``.metadata``), ``simple/`` the static index, ``.partial/`` resumable downloads,
``.wheelhouse-lock`` the writers' lock, ``wheelhouse.json`` the catalog (what each file is
and when it was verified; `wheelhouse.mirror.catalog`), ``last-sync.json`` when the last
sync without failures finished (`serve`'s readiness), ``advisories/`` the advisory data
kept for offline audits (an OSV export and where and when it was fetched).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.errors import UsageError, WheelhouseError

log = logging.getLogger("wheelhouse")
METADATA_SUFFIX = ".metadata"
# the names of the layout, for a folder and for object storage alike (keys "files/…")
FILES = "files"
SIMPLE = "simple"
CATALOG = "wheelhouse.json"
LOCK = ".wheelhouse-lock"  # the writers' lock file (a folder) or leased blob (object storage)
CATALOG_BYTES = 256 << 20  # the most a catalog may take (a few hundred bytes a file)
SYNC_STAMP = "last-sync.json"


@dataclass(frozen=True)
class Wheelhouse:
    """The paths of one wheelhouse folder."""

    root: Path

    @property
    def files(self) -> Path:
        return self.root / FILES

    @property
    def simple(self) -> Path:
        return self.root / SIMPLE

    @property
    def partial(self) -> Path:
        return self.root / ".partial"

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG

    @property
    def sync_stamp_path(self) -> Path:
        return self.root / SYNC_STAMP

    @property
    def advisories(self) -> Path:
        return self.root / "advisories"

    @property
    def advisories_export(self) -> Path:
        """The OSV export zip `sync --advisories` keeps for `audit --wheelhouse`."""
        return self.advisories / "osv-pypi.zip"

    @property
    def advisories_source(self) -> Path:
        """Where and when the export was fetched (`wheelhouse.model.osv.ExportSource`)."""
        return self.advisories / "source.json"

    def file(self, filename: str) -> Path:
        return self.files / safe_filename(filename)

    def part(self, filename: str, sha256: str) -> Path:
        """The fixed name a download resumes under: never inside files/, never complete-looking."""
        return self.partial / f"{safe_filename(filename)}.{sha256[:16]}.part"

    def distribution_files(self) -> list[str]:
        """Names of the distribution files present (no metadata, no hidden temporaries)."""
        if not self.files.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.files)
            if entry.is_file()
            and not entry.name.startswith(".")
            and not entry.name.endswith(METADATA_SUFFIX)
        )

    def create(self) -> None:
        for d in (self.root, self.files, self.simple, self.partial):
            d.mkdir(parents=True, exist_ok=True)


def safe_filename(filename: str) -> str:
    """A distribution file name that cannot escape its folder."""
    if (
        not filename
        or "/" in filename
        or "\\" in filename
        or filename.startswith(".")
        or "\0" in filename
    ):
        raise UsageError(f"refusing unsafe distribution file name {filename!r}")
    return filename


LOCK_WAIT = 300.0  # seconds a writer waits for another one before giving up
LOCK_POLL = 0.2


class WriterBusy(WheelhouseError):
    """Another sync or prune held the wheelhouse's writer lock for the whole wait."""

    exit_code = 1


def busy(where: object, wait: float, detail: str = "") -> WriterBusy:
    return WriterBusy(
        f"{where}: another sync or prune held the wheelhouse for {wait:.0f} s{detail}; "
        "try again when it is done"
    )


def open_lock(wheelhouse: Wheelhouse) -> int:
    """The lock file's descriptor (closing it releases the lock)."""
    wheelhouse.root.mkdir(parents=True, exist_ok=True)
    return os.open(wheelhouse.lock_path, os.O_RDWR | os.O_CREAT, 0o644)


def try_lock(fd: int) -> bool:
    """Take the exclusive lock on `fd` if no one holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


@contextmanager
def writer_lock(wheelhouse: Wheelhouse, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the wheelhouse's exclusive lock: waits up to `wait` seconds for another sync or
    prune to finish, then WriterBusy."""
    fd = open_lock(wheelhouse)
    try:
        deadline = time.monotonic() + wait
        if not try_lock(fd):
            log.info("waiting for another wheelhouse command on %s", wheelhouse.root)
            while not try_lock(fd):
                if time.monotonic() >= deadline:
                    raise busy(wheelhouse.root, wait)
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)  # closing releases the lock

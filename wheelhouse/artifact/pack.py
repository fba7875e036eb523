"""The artifact: an installed tree as a reproducible tar.gz, and unpacking one safely.

Same tree, same bytes: entries sorted, times fixed (SOURCE_DATE_EPOCH or 0), owners 0 with
no names, modes 0644/0755, and a gzip header with no name and no time.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from wheelhouse.artifact.destination import unsafe_member_reason
from wheelhouse.artifact.manifest import MANIFEST_NAME, compare_tree, read_manifest, scan_tree
from wheelhouse.errors import IntegrityError, UsageError
from wheelhouse.files import AtomicFile

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackResult:
    path: Path
    sha256: str
    size: int
    files: int


def source_date_epoch() -> int:
    text = os.environ.get("SOURCE_DATE_EPOCH", "")
    try:
        return max(0, int(text)) if text else 0
    except ValueError as exc:
        raise UsageError(f"SOURCE_DATE_EPOCH is not a whole number: {text!r}") from exc


def pack_tree(root: Path, output: Path, mtime: int | None = None) -> PackResult:
    """Write root (checked against its manifest first) as a reproducible tar.gz."""
    root = Path(root)
    output = Path(output)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise UsageError(f"{root} {what}: give the folder made by `wheelhouse install`")
    if output.is_dir():
        raise UsageError(f"{output} is a folder: -o names the archive file to write")
    if root.resolve() in output.absolute().resolve().parents:
        raise UsageError(f"{output} is inside {root}: the archive cannot be part of itself")
    manifest = read_manifest(root)
    if manifest is None:
        raise UsageError(f"{root} has no {MANIFEST_NAME}: make it with `wheelhouse install`")
    problems = compare_tree(manifest, scan_tree(root))
    if problems:
        raise IntegrityError(
            f"{root} no longer matches its manifest; refusing to pack it:\n  "
            + "\n  ".join(f"{path}: {what}" for path, what in problems)
        )
    when = source_date_epoch() if mtime is None else mtime
    entries = _entries(root)
    with AtomicFile(Path(output)) as out:
        sink = cast(BinaryIO, out)  # AtomicFile has the write() gzip needs
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
        ):
            for rel, full, is_dir in entries:
                _add(tar, rel, full, is_dir, when)
        digest, size = out.hexdigest(), out.size
        out.commit()
    return PackResult(Path(output), digest, size, sum(1 for e in entries if not e[2]))


def _entries(root: Path) -> list[tuple[str, Path, bool]]:
    out: list[tuple[str, Path, bool]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            full = Path(dirpath) / name
            out.append((full.relative_to(root).as_posix(), full, True))
        for name in filenames:
            full = Path(dirpath) / name
            out.append((full.relative_to(root).as_posix(), full, False))
    return sorted(out, key=lambda e: e[0])


def _add(tar: tarfile.TarFile, rel: str, full: Path, is_dir: bool, mtime: int) -> None:
    info = tarfile.TarInfo(rel)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if is_dir:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        return
    st = full.stat()
    info.size = st.st_size
    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    with open(full, "rb") as f:
        tar.addfile(info, f)


def unpack_artifact(artifact: Path, dest: Path) -> Path:
    """Unpack into dest, refusing links, devices and any name that escapes it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(artifact, mode="r:gz") as tar:
            members = tar.getmembers()
            bad = [
                f"{m.name!r}: {why}"
                for m in members
                if (why := unsafe_member_reason(m.name) or _kind_problem(m))
            ]
            if bad:
                raise IntegrityError(
                    f"{artifact}: unsafe entries, nothing unpacked:\n  " + "\n  ".join(bad)
                )
            for m in members:
                target = dest / m.name
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                if src is None:  # pragma: no cover - regular files always have data
                    raise IntegrityError(f"{artifact}: {m.name} has no data")
                with src, open(target, "xb") as f:
                    shutil.copyfileobj(src, f, _CHUNK)
                os.chmod(target, 0o755 if m.mode & 0o111 else 0o644)
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise IntegrityError(f"{artifact}: not a readable artifact: {exc}") from exc
    return dest


def _kind_problem(member: tarfile.TarInfo) -> str | None:
    if member.isfile() or member.isdir():
        return None
    return "a link or special file"

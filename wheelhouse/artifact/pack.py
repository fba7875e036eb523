"""The artifact: an installed tree as a reproducible tar.gz, and unpacking one safely.

Same tree, same bytes: entries sorted, times fixed (SOURCE_DATE_EPOCH or 0), owners 0 with
no names, modes 0644/0755 (a tree with any other mode is not packed), and a gzip header with
no name and no time.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from wheelhouse.artifact.destination import unsafe_member_reason
from wheelhouse.artifact.manifest import MANIFEST_NAME, compare_tree, read_manifest, scan_tree
from wheelhouse.artifact.modes import mode_problem, tree_mode_problems
from wheelhouse.errors import IntegrityError, UsageError
from wheelhouse.files import AtomicFile
from wheelhouse.store.location import is_remote

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackResult:
    path: Path | str  # the file, or the az:// URL of the blob it was uploaded to
    sha256: str
    size: int
    files: int


def source_date_epoch() -> int:
    text = os.environ.get("SOURCE_DATE_EPOCH", "")
    try:
        return max(0, int(text)) if text else 0
    except ValueError as exc:
        raise UsageError(f"SOURCE_DATE_EPOCH is not a whole number: {text!r}") from exc


def pack_tree(root: Path, output: Path | str, mtime: int | None = None) -> PackResult:
    """Write root (checked against its manifest first) as a reproducible tar.gz: a file, or
    az://CONTAINER/[PATH/]NAME.tar.gz (made locally, then uploaded: the blob appears only
    complete and with the archive's hash)."""
    if is_remote(output):
        return _pack_to_storage(root, str(output), mtime)
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
    problems = compare_tree(manifest, scan_tree(root)) + tree_mode_problems(root)
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


def _pack_to_storage(root: Path, url: str, mtime: int | None) -> PackResult:
    import asyncio

    from wheelhouse.store.location import AZ_SCHEME, open_wheelhouse, parse_blob_url

    where = parse_blob_url(url)
    folder, _, name = where.prefix.rpartition("/")
    if not name:
        raise UsageError(f"{url}: -o names the artifact's blob: az://CONTAINER/NAME.tar.gz")
    storage = open_wheelhouse(f"{AZ_SCHEME}{where.container}/{folder}")

    async def upload(path: Path, sha256: str) -> None:
        try:
            await storage.put_file(name, path, sha256, content_type="application/gzip")
        finally:
            await storage.close()

    with tempfile.TemporaryDirectory(prefix="wheelhouse-pack-") as tmp:
        made = pack_tree(root, Path(tmp) / name, mtime)
        asyncio.run(upload(Path(made.path), made.sha256))
    return PackResult(where.url, made.sha256, made.size, made.files)


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


@dataclass(frozen=True)
class UnpackResult:
    path: Path
    files: int


def in_artifact(exc: Exception, root: Path) -> str:
    """An error's message about a file of an unpacked artifact, with the path inside it
    (not the temporary folder it was unpacked into)."""
    return str(exc).replace(f"{root}{os.sep}", "")


def unpack_tree(artifact: Path, dest: Path) -> UnpackResult:
    """Unpack an artifact for deployment: refused whole unless every entry is safe, every
    mode is 0644/0755 (folders 0755), and the tree matches its own manifest; made beside
    `dest` and renamed into place, so `dest` (new, or an empty folder) is all or nothing."""
    dest = Path(os.path.abspath(dest))
    if dest.exists() and (not dest.is_dir() or dest.is_symlink() or any(dest.iterdir())):
        raise UsageError(f"{dest} exists and is not an empty folder; unpack into a new one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.unpack-", dir=dest.parent))
    try:
        unpack_artifact(artifact, staging)
        try:
            manifest = read_manifest(staging)
        except UsageError as exc:
            raise IntegrityError(f"{artifact}: {in_artifact(exc, staging)}") from None
        if manifest is None:
            raise IntegrityError(f"{artifact} has no {MANIFEST_NAME}: not made by wheelhouse pack")
        files = scan_tree(staging)
        problems = compare_tree(manifest, files)
        if problems:
            raise IntegrityError(
                f"{artifact} does not match its own manifest; nothing unpacked:\n  "
                + "\n  ".join(f"{path}: {what}" for path, what in problems)
            )
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return UnpackResult(dest, len(files))


ARTIFACT_ENTRIES = 500_000  # tarfile keeps every header in memory (about 1 KB each)


def unpack_artifact(artifact: Path, dest: Path, *, exact_modes: bool = False) -> Path:
    """Unpack into dest, refusing links, devices, any name that escapes it, and (unless
    `exact_modes`) any mode but files 0644/0755 and folders 0755: nothing is written then.

    Files and folders get exactly the archive's permission bits whatever the umask, never
    its owner. `exact_modes` (verify) unpacks other modes as they are, into a private
    folder, for the tree's mode check to report.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)  # the tree's root, as install makes it
    try:
        with tarfile.open(artifact, mode="r:gz") as tar:
            members = _members(tar, artifact)
            _check_entries(artifact, members, exact_modes)
            _check_space(artifact, members, dest)
            for m in members:
                _extract(tar, m, dest, artifact)
            for m in sorted((m for m in members if m.isdir()), key=lambda m: m.name)[::-1]:
                os.chmod(dest / m.name, stat.S_IMODE(m.mode))  # last: a 0555 folder is written
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile, zlib.error) as exc:
        raise IntegrityError(f"{artifact}: not a readable artifact: {exc}") from exc
    return dest


def _members(tar: tarfile.TarFile, artifact: Path) -> list[tarfile.TarInfo]:
    """The archive's entries, at most ARTIFACT_ENTRIES of them."""
    members = []
    while (member := tar.next()) is not None:
        members.append(member)
        if len(members) > ARTIFACT_ENTRIES:
            raise IntegrityError(f"{artifact}: more than {ARTIFACT_ENTRIES} entries")
    return members


def _check_entries(artifact: Path, members: list[tarfile.TarInfo], exact_modes: bool) -> None:
    bad = [
        f"{m.name!r}: {why}"
        for m in members
        if (
            why := unsafe_member_reason(m.name)
            or _kind_problem(m)
            or (None if exact_modes else mode_problem(m.isdir(), m.mode))
        )
    ]
    if bad:
        raise IntegrityError(
            f"{artifact}: unsafe entries, nothing unpacked:\n  " + "\n  ".join(bad)
        )


def _check_space(artifact: Path, members: list[tarfile.TarInfo], dest: Path) -> None:
    """Refuse before writing what the file system cannot hold."""
    need = sum(m.size for m in members if m.isfile())
    free = shutil.disk_usage(dest).free
    if need > free:
        raise IntegrityError(
            f"{artifact}: unpacks to {need} bytes, {dest} has {free} free; nothing unpacked"
        )


def _extract(tar: tarfile.TarFile, m: tarfile.TarInfo, dest: Path, artifact: Path) -> None:
    target = dest / m.name
    _make_folders(dest, target if m.isdir() else target.parent)
    if m.isdir():
        return
    src = tar.extractfile(m)
    if src is None:  # pragma: no cover - regular files always have data
        raise IntegrityError(f"{artifact}: {m.name} has no data")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with src, os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(src, f, _CHUNK)
        os.fchmod(f.fileno(), stat.S_IMODE(m.mode))


def _make_folders(dest: Path, folder: Path) -> None:
    """Make `folder` and the folders above it up to dest, each 0755 whatever the umask
    (a folder entry of the archive gets its own mode at the end)."""
    missing = []
    while folder != dest and not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(0o755)
        os.chmod(path, 0o755)


def _kind_problem(member: tarfile.TarInfo) -> str | None:
    if member.isfile() or member.isdir():
        return None
    return "a link or special file"

"""Install a lock's wheels from a wheelhouse into a target folder, all or nothing.

Offline by construction: the only inputs are the lock and the wheelhouse's files. Everything
is built in a staging folder beside the target and swapped in at the end, so the target is
either exactly the old tree or exactly the lock.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import installer
from installer.exceptions import InstallerError

from wheelhouse.artifact.compile import compile_tree
from wheelhouse.artifact.destination import (
    INSTALLER_NAME,
    SafeDestination,
    TargetLayout,
    WrittenFile,
)
from wheelhouse.artifact.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestDist,
    ManifestFile,
    pins_digest,
    read_manifest,
    scan_tree,
    write_manifest,
)
from wheelhouse.artifact.plan import PlannedWheel, check_hash, plan_install
from wheelhouse.artifact.scripts import SharedScript, script_names, shared_scripts
from wheelhouse.artifact.wheelsource import CheckedWheel, check_directory_size, mapped
from wheelhouse.errors import InstallError, IntegrityError, UsageError, WheelhouseError
from wheelhouse.files import os_error_text
from wheelhouse.interpreters import check_interpreter
from wheelhouse.model.lock import Lock
from wheelhouse.progress import Counter, Progress

log = logging.getLogger("wheelhouse")


@dataclass(frozen=True)
class InstallOptions:
    jobs: int = 0  # 0: one per CPU (at most 16)
    interpreter: str | None = None  # the scripts' shebang; default /usr/bin/env pythonX.Y
    compile_with: str | None = None  # the target's interpreter, to write byte-code
    # Unpack in forked processes (CPU-bound work, one GIL); callers that run threads of
    # their own, where fork is unsafe, set this to False for a thread pool.
    processes: bool = True


@dataclass(frozen=True)
class InstallResult:
    target: Path
    layout: TargetLayout
    wheels: tuple[PlannedWheel, ...]
    removed: tuple[str, ...]  # "name version" of distributions the lock no longer has
    manifest: Manifest
    shared_scripts: tuple[SharedScript, ...] = ()  # the later wheel in the lock won each

    @property
    def wheel_bytes(self) -> int:
        return sum(w.size for w in self.wheels)


def install_lock(
    lock: Lock,
    wheelhouse: Path | str,
    target: Path,
    options: InstallOptions = InstallOptions(),
    progress: Progress | None = None,
) -> InstallResult:
    """Make `target` hold exactly the lock's to-install distributions, from a wheelhouse
    folder or az://CONTAINER/PREFIX (through a local copy in the cache)."""
    if options.jobs < 0:
        raise UsageError(f"jobs: {options.jobs}: give 0 (one per CPU) or more")
    wheelhouse = _local(wheelhouse, lock)
    # each wheel's lock hash is checked by the process that unpacks it, on the bytes it unpacks
    wheels = plan_install(lock, wheelhouse, hash_later=True)
    minor = lock.target.python_minor
    if options.compile_with:
        check_interpreter(options.compile_with, minor)  # before any work, not after
    target = Path(os.path.abspath(target))
    previous = _previous_manifest(target)
    shared = shared_scripts([(w.label, script_names(w.path, w.label)) for w in wheels])
    staging = _staging_beside(target)
    try:
        layout = TargetLayout(staging, minor)
        wheels, manifest = _build(lock, wheels, layout, options, progress, shared)
        _swap_in(staging, target)
    except OSError as exc:  # said of the user's folder, not of the staging one
        shutil.rmtree(staging, ignore_errors=True)
        shown = _user_path(exc.filename, staging, target)
        raise InstallError(f"cannot install into {target}: {os_error_text(exc, shown)}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    kept = {(d.name, d.version) for d in manifest.dists}
    removed = tuple(
        f"{d.name} {d.version}"
        for d in (previous.dists if previous else ())
        if (d.name, d.version) not in kept
    )
    return InstallResult(
        target, TargetLayout(target, minor), wheels, removed, manifest, tuple(shared)
    )


def _local(wheelhouse: Path | str, lock: Lock) -> Path:
    """The folder to read the wheelhouse from (for one in object storage, a local copy of
    the files the lock pins)."""
    from wheelhouse.net.cache import default_cache_dir
    from wheelhouse.store.copy import local_wheelhouse

    return local_wheelhouse(wheelhouse, default_cache_dir(), lock_hashes(lock))


def lock_hashes(lock: Lock) -> set[str]:
    """The sha256 of every file the lock pins."""
    return {f.sha256 for pin in lock.pins for f in pin.files}


def _staging_beside(target: Path) -> Path:
    """The folder the new tree is built in: beside the target, so that it can be swapped in
    with a rename."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
        os.chmod(staging, 0o755)
    except OSError as exc:
        raise InstallError(
            f"cannot install into {target}: the new tree is built beside it and swapped in: "
            + os_error_text(exc, target.parent)
        ) from exc
    return staging


def _user_path(filename: object, staging: Path, target: Path) -> str | None:
    """A path inside the staging folder as the same path inside the target."""
    if not isinstance(filename, str):
        return None
    try:
        return str(target / Path(filename).relative_to(staging))
    except ValueError:
        return filename


def _build(
    lock: Lock,
    wheels: tuple[PlannedWheel, ...],
    layout: TargetLayout,
    options: InstallOptions,
    progress: Progress | None,
    shared: Sequence[SharedScript] = (),
) -> tuple[tuple[PlannedWheel, ...], Manifest]:
    """Every wheel unpacked into the staging layout, byte-code if asked, the manifest."""
    minor = layout.python_minor
    interpreter = options.interpreter or f"/usr/bin/env python{minor}"
    umask = os.umask(0o022)
    os.umask(umask)
    wheels, written = _install_all(wheels, layout, interpreter, options, umask, progress, shared)
    files = tuple(
        sorted(
            (ManifestFile(w.path, w.sha256, w.size, w.executable) for w in written),
            key=lambda f: f.path,
        )
    )
    compiled = ""
    if options.compile_with:
        step = Counter(progress, f"compiling byte-code with Python {minor}", None)
        step.start()
        compiled = compile_tree(options.compile_with, minor, layout.site_packages).version
        step.finish()
        files = scan_tree(layout.root)  # with the byte-code
    manifest = _manifest(lock, wheels, files, compiled)
    write_manifest(layout.root, manifest)
    return wheels, manifest


def _manifest(
    lock: Lock, wheels: tuple[PlannedWheel, ...], files: tuple[ManifestFile, ...], compiled: str
) -> Manifest:
    dists = tuple(
        ManifestDist(w.name, w.version, w.path.name, w.sha256, w.built_from)
        for w in sorted(wheels, key=lambda w: w.name)
    )
    return Manifest(
        lock_digest=pins_digest(dists),
        lock_input_digest=lock.input_digest,
        profile_name=lock.target.profile_name,
        profile_digest=lock.target.profile_digest,
        python_version=lock.target.python_version,
        dists=dists,
        files=files,
        compiled_with=compiled,
    )


def _previous_manifest(target: Path) -> Manifest | None:
    """The manifest of a tree we made before; refuse to replace anything else."""
    if not target.exists():
        return None
    if target.is_symlink():
        raise InstallError(f"{target} is a link; give the real folder")
    if not target.is_dir():
        raise InstallError(f"{target} exists and is not a folder")
    manifest = read_manifest(target)
    if manifest is None and any(target.iterdir()):
        raise InstallError(
            f"{target} is not empty and has no {MANIFEST_NAME}: not made by wheelhouse "
            "install, so it is left alone (choose an empty or new folder)"
        )
    return manifest


def _install_all(
    wheels: tuple[PlannedWheel, ...],
    layout: TargetLayout,
    interpreter: str,
    options: InstallOptions,
    umask: int,
    progress: Progress | None = None,
    shared: Sequence[SharedScript] = (),
) -> tuple[tuple[PlannedWheel, ...], list[WrittenFile]]:
    """Every wheel unpacked into the layout: the wheels with their checked hashes, and the
    files written. Each wheel is reported as it is done (the workers do not log: they may
    be forked processes). A script several wheels declare is written by the last one only."""
    workers = options.jobs if options.jobs > 0 else min(16, os.cpu_count() or 1)
    # the biggest first, so that the slowest wheel is not the last to start
    ordered = sorted(wheels, key=lambda w: -w.size)
    problems: list[WheelhouseError] = []
    written: list[WrittenFile] = []
    checked: list[PlannedWheel] = []
    step = Counter(progress, "installing wheels", len(wheels))
    step.start()
    with _pool(workers, len(wheels), options.processes) as pool:
        futures = {
            pool.submit(_install_one, w, layout, interpreter, umask, _lost(w, shared)): w
            for w in ordered
        }
        for future in as_completed(futures):
            exc = future.exception()
            if isinstance(exc, WheelhouseError):
                problems.append(exc)
            elif exc is not None:
                raise exc
            else:
                wheel, files = future.result()
                checked.append(wheel)
                written += files
            step.advance(futures[future].label)
    step.finish()
    if problems:
        text = "cannot install the lock; nothing was changed:\n" + "\n".join(
            str(p) for p in sorted(problems, key=str)
        )
        if any(isinstance(p, IntegrityError) for p in problems):
            raise IntegrityError(text)
        raise InstallError(text)
    return tuple(sorted(checked, key=lambda w: w.name)), written


def _lost(wheel: PlannedWheel, shared: Sequence[SharedScript]) -> frozenset[str]:
    """The scripts a later wheel of the lock installs in this one's place."""
    return frozenset(s.name for s in shared if wheel.label in s.losers)


def _pool(workers: int, count: int, processes: bool) -> Executor:
    """Processes where fork is cheap: unpacking is CPU-bound and threads share one GIL."""
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if processes and forkable and workers > 1 and count > 1:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(max_workers=workers)


def _install_one(
    wheel: PlannedWheel,
    layout: TargetLayout,
    interpreter: str,
    umask: int = 0o022,
    skip_scripts: frozenset[str] = frozenset(),
) -> tuple[PlannedWheel, list[WrittenFile]]:
    """Check one wheel's bytes against the lock, then unpack exactly those bytes."""
    destination = SafeDestination(
        scheme_dict=layout.scheme_dict(),
        interpreter=interpreter,
        script_kind="posix",
        bytecode_optimization_levels=(),
        confine_to=str(layout.root),
        label=wheel.label,
        umask=umask,
        skip_scripts=skip_scripts,
    )
    try:
        with open(wheel.path, "rb") as f, mapped(f) as data:
            # the bytes hashed for the lock are the bytes unpacked: one pass over the file,
            # mapped rather than read so that a wheel of gigabytes costs no memory of its own
            wheel = check_hash(wheel, hashlib.sha256(data).hexdigest())
            check_directory_size(data, wheel.label)
            with zipfile.ZipFile(f) as zf:
                source = CheckedWheel(zf, wheel.label, data)
                try:
                    source.check_names()
                    _check_space(wheel, zf, layout.root)
                    installer.install(
                        source, destination, {"INSTALLER": f"{INSTALLER_NAME}\n".encode()}
                    )
                finally:
                    source.release()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        InstallerError,
        ValueError,
        RuntimeError,  # zipfile: an encrypted member
        NotImplementedError,  # zipfile: a compression it cannot undo
        EOFError,
    ) as exc:
        raise IntegrityError(
            f"{wheel.label}: {wheel.path.name} is not a sound wheel: {exc}"
        ) from exc
    except OSError as exc:  # named inside the target, not by the staging folder's name
        shown = _user_path(exc.filename, layout.root, Path("."))
        raise InstallError(f"{wheel.label}: cannot install: {os_error_text(exc, shown)}") from exc
    return wheel, destination.written


def _check_space(wheel: PlannedWheel, zf: zipfile.ZipFile, root: Path) -> None:
    """Refuse, before writing, a wheel that unpacks to more than the file system has free
    (its members' sizes are the zip's, checked against RECORD and held to while inflating)."""
    need = sum(info.file_size for info in zf.infolist())
    free = shutil.disk_usage(root).free
    if need > free:
        raise InstallError(f"{wheel.label}: unpacks to {need} bytes, {root.parent} has {free} free")


def _swap_in(staging: Path, target: Path) -> None:
    """Put the staged tree in the target's place; on failure the old tree stays."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):  # one atomic step where the kernel offers it
        shutil.rmtree(staging, ignore_errors=True)  # now the old tree
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths with Linux's renameat2(RENAME_EXCHANGE); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(done == 0)

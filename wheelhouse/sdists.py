"""An sdist read and built: its build system (PEP 517/518, setuptools' legacy default when it
declares none), and a wheel built from it by the target's own interpreter in an isolated
environment that holds exactly the given build requirements (wheel files; nothing fetched).

Shared by the mirror (`sync --build-with`), the image's stand-in and the resolver, so it
lives at the base. The hooks are called through pyproject_hooks (pypa's runner, whose
in-process script still runs on old Pythons); the environment is a `venv` of the target's
interpreter, filled with the installer library. Where `unshare` can take the network away,
the build runs without one.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from wheelhouse.errors import IntegrityError, UsageError, WheelhouseError
from wheelhouse.interpreters import check_interpreter, resolve_interpreter, target_env

# pip's default for a project without pyproject.toml (or without [build-system])
LEGACY_REQUIRES = ("setuptools>=40.8.0", "wheel")
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
MAX_MEMBERS = 100_000
MAX_UNPACKED = 2 * 1024**3  # bytes an sdist may unpack to
MAX_PYPROJECT = 1024 * 1024
BUILD_TIMEOUT = 1800  # seconds one hook may take
ZIP_EPOCH = 315532800  # 1980-01-01: the earliest time a zip (a wheel) can store


class BuildError(WheelhouseError):
    """The backend failed, or built something the target cannot use."""

    exit_code = 1


@dataclass(frozen=True)
class BuildSystem:
    requires: tuple[str, ...]
    backend: str
    backend_path: tuple[str, ...] = ()
    declared: bool = True  # False: the legacy default stands in for a missing declaration


def build_system(pyproject: Mapping[str, Any] | None, where: str) -> BuildSystem:
    """PEP 517/518's [build-system], or the legacy default where the sdist declares none."""
    table = (pyproject or {}).get("build-system")
    if table is None:
        return BuildSystem(LEGACY_REQUIRES, LEGACY_BACKEND, declared=False)
    requires = table.get("requires") if isinstance(table, dict) else None
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise UsageError(f"{where}: [build-system] requires must be a list of strings")
    backend = table.get("build-backend") or LEGACY_BACKEND
    path = table.get("backend-path") or []
    if not isinstance(backend, str) or not isinstance(path, list):
        raise UsageError(f"{where}: malformed [build-system] build-backend or backend-path")
    return BuildSystem(tuple(requires), backend, tuple(str(p) for p in path))


def parse_pyproject(data: bytes, where: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(data[:MAX_PYPROJECT].decode("utf-8", errors="replace"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: pyproject.toml is not valid TOML: {exc}") from exc


def sdist_members(data: bytes, filename: str, names: Sequence[str]) -> dict[str, bytes]:
    """The top-level members `names` (e.g. PKG-INFO, pyproject.toml) of an sdist archive."""
    wanted = set(names)
    out: dict[str, bytes] = {}
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist()[:MAX_MEMBERS]:
                    rel = _top_level(info.filename)
                    if rel in wanted and info.file_size <= MAX_PYPROJECT * 4:
                        out[rel] = zf.read(info)
            return out
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for m in tf:
                rel = _top_level(m.name)
                if rel in wanted and m.isfile() and m.size <= MAX_PYPROJECT * 4:
                    f = tf.extractfile(m)
                    out[rel] = f.read() if f else b""
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise IntegrityError(f"{filename}: unreadable sdist ({exc})") from exc
    return out


def _top_level(name: str) -> str | None:
    """'proj-1.0/PKG-INFO' -> 'PKG-INFO'; deeper or odd names -> None."""
    parts = PurePosixPath(name).parts
    return parts[1] if len(parts) == 2 else None


def unpack_sdist(sdist: Path, dest: Path) -> Path:
    """Unpack into dest, refusing links, absolute names, `..` and bombs; the source folder."""
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                infos = zf.infolist()
                _check_names([i.filename for i in infos], sdist)
                total = sum(i.file_size for i in infos)
                if total > MAX_UNPACKED:
                    raise IntegrityError(f"{sdist.name}: unpacks to more than {MAX_UNPACKED} bytes")
                zf.extractall(dest)
        else:
            with tarfile.open(sdist, mode="r:*") as tf:
                members = tf.getmembers()
                _check_names([m.name for m in members], sdist)
                if any(not (m.isfile() or m.isdir()) for m in members):
                    raise IntegrityError(f"{sdist.name}: holds links or special files")
                if sum(m.size for m in members) > MAX_UNPACKED:
                    raise IntegrityError(f"{sdist.name}: unpacks to more than {MAX_UNPACKED} bytes")
                for m in members:
                    _own(m)
                tf.extractall(dest, members)  # names and kinds checked above
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise IntegrityError(f"{sdist.name}: unreadable sdist ({exc})") from exc
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise IntegrityError(f"{sdist.name}: expected one top-level folder, found {len(tops)}")
    return tops[0]


def build_epoch(sdist: Path) -> int:
    """SOURCE_DATE_EPOCH for a build: the caller's, else the sdist's newest time stamp (the
    same sdist then builds the same wheel, at lock and at sync); never before 1980."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not text:
        return sdist_epoch(sdist)
    try:
        return max(ZIP_EPOCH, int(text))
    except ValueError as exc:
        raise UsageError(f"SOURCE_DATE_EPOCH is not a whole number: {text!r}") from exc


def sdist_epoch(sdist: Path) -> int:
    """The newest time stamp among the sdist's members, never before 1980 (zip's start):
    a SOURCE_DATE_EPOCH that the same sdist always gives."""
    import calendar

    newest = 0
    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                for info in zf.infolist()[:MAX_MEMBERS]:
                    newest = max(newest, calendar.timegm((*info.date_time, 0, 0, 0)))
        else:
            with tarfile.open(sdist, mode="r:*") as tf:
                for i, m in enumerate(tf):
                    if i >= MAX_MEMBERS:
                        break
                    newest = max(newest, int(m.mtime))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise IntegrityError(f"{sdist.name}: unreadable sdist ({exc})") from exc
    return max(ZIP_EPOCH, newest)


def _own(member: tarfile.TarInfo) -> None:
    """Extract as ours, writable by us: as root, tarfile would restore the packager's owner,
    which the build (in a user namespace without the network) may then not write to."""
    member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    member.mode = (member.mode | 0o200) & 0o755


def _check_names(names: Sequence[str], sdist: Path) -> None:
    if len(names) > MAX_MEMBERS:
        raise IntegrityError(f"{sdist.name}: more than {MAX_MEMBERS} members")
    for name in names:
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or ".." in parts or ":" in (parts[0] if parts else ""):
            raise IntegrityError(f"{sdist.name}: unsafe member name {name!r}")


@dataclass(frozen=True)
class Built:
    """A wheel built from an sdist, and how."""

    wheel: Path
    python_version: str  # the interpreter's full version
    builder: str  # the interpreter (path) it was built with
    backend: str
    seconds: float
    isolated_network: bool  # the build ran with no network


def build_wheel(
    sdist: Path,
    python: str,
    python_minor: str,
    requirements: Sequence[Path],
    out_dir: Path,
    source_date_epoch: int,
) -> Built:
    """Build `sdist` into a wheel in `out_dir` with `python` (which must be the target's
    X.Y), in a fresh environment holding exactly the wheels `requirements`."""
    started = time.monotonic()
    with _build_folder(sdist) as tmp:
        where = _where(python, python_minor, tmp)
        src = unpack_sdist(sdist, Path(tmp) / "src")
        pyproject = src / "pyproject.toml"
        system = build_system(
            parse_pyproject(pyproject.read_bytes(), sdist.name) if pyproject.is_file() else None,
            sdist.name,
        )
        env_python = _environment(where, python_minor, Path(tmp) / "env", requirements)
        runner = _Runner(source_date_epoch, where)
        wheel = _call_backend(src, system, env_python, runner, Path(tmp) / "out", sdist.name)
        out_dir.mkdir(parents=True, exist_ok=True)
        final = out_dir / wheel.name
        shutil.move(str(wheel), final)
    return Built(
        final,
        where.version,
        where.label,
        system.backend,
        time.monotonic() - started,
        where.isolated,
    )


def _where(python: str, minor: str, folder: Path) -> _Host | _Container:
    """`docker:IMAGE`: the image's own interpreter; else an interpreter on this host."""
    if python.startswith("docker:"):
        return _Container(python[len("docker:") :], minor, folder)
    return _Host(python, minor)


class _Host:
    """The target's interpreter on this host; hooks run without the network where
    `unshare` can take it away."""

    def __init__(self, python: str, minor: str) -> None:
        self.python = resolve_interpreter(python)
        self.version = check_interpreter(self.python, minor)
        self.label = self.python
        self.prefix = _no_network_prefix()
        self.isolated = bool(self.prefix)

    def command(
        self, cmd: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> list[str]:
        return [*self.prefix, *cmd]


class _Container:
    """The image's own interpreter (`python` in IMAGE), through `docker run` with no
    network, this build's folders mounted at the same paths, as this host's user."""

    def __init__(self, image: str, minor: str, folder: Path) -> None:
        docker = shutil.which("docker")
        if not image or docker is None:
            raise UsageError(f"--build-with docker:{image}: no docker executable on PATH")
        self.docker, self.image, self.folder = docker, image, folder
        self.python = "python"
        self.label = f"docker:{image}"
        self.isolated = True
        proc = _run(self.command(["python", "-c", _VERSION]), f"asking {image} its Python")
        self.version = proc.stdout.strip()
        if ".".join(self.version.split(".")[:2]) != minor:
            raise UsageError(f"{image}'s python is Python {self.version}; the target is {minor}")

    def command(
        self, cmd: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> list[str]:
        mounts = {self.folder, *([Path(cwd)] if cwd else [])}
        for arg in cmd:  # the hook script and its control folder live on this host
            path = Path(arg)
            if path.is_absolute() and path.exists() and not path.is_relative_to(self.folder):
                mounts.add(path if path.is_dir() else path.parent)
        args = [self.docker, "run", "--rm", "--network", "none"]
        args += ["--user", f"{os.getuid()}:{os.getgid()}"]
        for mount in sorted(mounts):
            args += ["-v", f"{mount}:{mount}"]
        args += ["-w", cwd] if cwd else []
        for key, value in sorted((env or {}).items()):
            args += ["-e", f"{key}={value}"]
        return [*args, self.image, *cmd]


_VERSION = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


def _run(cmd: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=target_env(), timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{what}: {exc}") from exc
    if proc.returncode != 0:
        raise BuildError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc


@contextmanager
def _build_folder(sdist: Path) -> Iterator[Path]:
    """A scratch folder whose path depends only on the sdist's bytes: compilers write the
    source path into what they build (debug information, __FILE__), so a random one made
    every build of a C extension differ. Builds on this machine take turns (one lock file,
    so that no lock is left behind per sdist)."""
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"wheelhouse-build-{digest}"
    lock = folder.with_name("wheelhouse-build.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        shutil.rmtree(folder, ignore_errors=True)  # a killed build's leftovers
        folder.mkdir(mode=0o700)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)


def _environment(
    where: _Host | _Container, minor: str, env: Path, requirements: Sequence[Path]
) -> str:
    """A venv of the target's interpreter (no pip, no system site-packages) holding exactly
    `requirements`, unpacked by the installer library."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    venv = [where.python, "-m", "venv", "--without-pip", str(env)]
    _run(where.command(venv), f"creating a build environment with {where.label}")
    site = env / "lib" / f"python{minor}" / "site-packages"
    scheme = {
        "purelib": str(site),
        "platlib": str(site),
        "headers": str(env / "include"),
        "scripts": str(env / "bin"),
        "data": str(env),
    }
    destination = SchemeDictionaryDestination(
        scheme, interpreter=str(env / "bin" / "python"), script_kind="posix"
    )
    for wheel in requirements:
        with WheelFile.open(wheel) as source:
            install(source, destination, {"INSTALLER": b"wheelhouse"})
    return str(env / "bin" / "python")


class _Runner:
    """Runs the hook subprocess: the target's environment only, SOURCE_DATE_EPOCH set, no
    pip index, and no network where `unshare` can take it away."""

    def __init__(self, source_date_epoch: int, where: _Host | _Container) -> None:
        self.epoch = source_date_epoch
        self.where = where

    def __call__(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        settings = {
            **(extra_environ or {}),
            "SOURCE_DATE_EPOCH": str(self.epoch),
            "PIP_NO_INDEX": "1",
            "PYTHONHASHSEED": "0",
        }
        proc = subprocess.run(
            self.where.command(cmd, cwd, settings),
            cwd=cwd,
            env=target_env(settings),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise BuildError(f"the build backend failed (exit {proc.returncode}):\n{tail}")


def _no_network_prefix() -> list[str]:
    """`unshare -rn` (a new network namespace with nothing but loopback) where it works."""
    unshare = shutil.which("unshare")
    if unshare is None or os.environ.get("WHEELHOUSE_BUILD_NETWORK") == "1":
        return []
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True)
    return [unshare, "-rn"] if probe.returncode == 0 else []


def _call_backend(
    src: Path, system: BuildSystem, python: str, runner: _Runner, out: Path, label: str
) -> Path:
    from pyproject_hooks import BuildBackendHookCaller

    hooks = BuildBackendHookCaller(
        str(src),
        system.backend,
        backend_path=list(system.backend_path) or None,
        runner=runner,
        python_executable=python,
    )
    asked = hooks.get_requires_for_build_wheel({})
    missing = _missing(asked, Path(python).parent.parent)
    if missing:
        raise BuildError(
            f"{label}: its build backend also asks for {', '.join(missing)}, which the lock's "
            "build requirements do not hold; add them to the sdist's build requirements"
        )
    out.mkdir(parents=True, exist_ok=True)
    name = hooks.build_wheel(str(out), {})
    return out / name


def _missing(asked: Sequence[str], env: Path) -> list[str]:
    """The requirements (from the backend) that no distribution in `env` satisfies."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    present: dict[str, str] = {}
    for info in env.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        present[canonicalize_name(name)] = version
    out = []
    for text in asked:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            out.append(text)
            continue
        have = present.get(canonicalize_name(req.name))
        if have is None or not req.specifier.contains(have, prereleases=True):
            out.append(text)
    return out

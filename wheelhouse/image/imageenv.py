"""`image-env`: an offline stand-in for the image — a virtual environment of the target's
interpreter holding the profile's installed set, built from the wheelhouse alone.

`run` and `verify --python` use it where the real image cannot be started (no Docker engine).
A package the index has only as an sdist comes as the wheel `sync --build-with` built from
it (the same path the lock's sdists take), its provenance checked; nothing is built here.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.errors import IntegrityError, UsageError, WheelhouseError
from wheelhouse.files import sha256_file
from wheelhouse.interpreters import interpreter_version, offline_pip_env, resolve_interpreter
from wheelhouse.model.filenames import parse_filename, wheel_fits
from wheelhouse.model.profile import Profile
from wheelhouse.progress import Counter, Progress
from wheelhouse.store.layout import Wheelhouse
from wheelhouse.store.provenance import Provenance, built_wheels

log = logging.getLogger("wheelhouse")
STAMP = "wheelhouse-image-env.json"


@dataclass(frozen=True)
class ImageEnv:
    path: Path
    python: Path
    profile_name: str
    reused: bool
    packages: int


def find_image_files(
    profile: Profile, files_dir: Path, exclude: Collection[str] = ()
) -> tuple[list[Path], list[str]]:
    """Each installed distribution's file in the wheelhouse (none of `exclude`: the built
    wheels, which come only through their sdist); and those not found."""
    present = []
    for path in sorted(files_dir.iterdir()) if files_dir.is_dir() else []:
        if path.name in exclude:
            continue
        parsed = parse_filename(path.name)
        if parsed is not None and (not parsed.is_wheel or wheel_fits(path.name, profile.tags)):
            present.append((parsed, path))
    found, missing = [], []
    for dist in profile.installed:
        rec = profile.file_of(dist)
        if rec is not None and (files_dir / rec.filename).is_file():
            path = files_dir / rec.filename
            if rec.sha256 and sha256_file(path) != rec.sha256:
                raise IntegrityError(
                    f"{path.name} in the wheelhouse does not match the "
                    f"profile's sha256:{rec.sha256}"
                )
            found.append(path)
            continue
        candidates = [
            (parsed, path)
            for parsed, path in present
            if parsed.name == dist.name and parsed.has_version(dist.version)
        ]
        # a wheel before an sdist
        chosen = sorted(candidates, key=lambda c: (not c[0].is_wheel, c[1].name))[:1]
        if chosen:
            found.append(chosen[0][1])
        else:
            missing.append(f"{dist.name}=={dist.version}")
    return found, missing


def build_image_env(
    profile: Profile,
    python: str,
    wheelhouse: Path | str | None,
    out: Path,
    progress: Progress | None = None,
) -> ImageEnv:
    """Create (or reuse) the stand-in environment at `out`: a venv of the target's
    interpreter with the profile's installed set from the wheelhouse (a folder, or
    az://CONTAINER/PREFIX through a local copy; nothing more for a bare target, which
    needs no wheelhouse)."""
    python, version = _target_python(python, profile)
    stamp = {
        "profile": profile.name,
        "profile_digest": profile.digest(),
        "python": str(Path(python).resolve()),
        "python_version": version,
    }
    if _stamped(out, stamp):
        return ImageEnv(out, out / "bin" / "python", profile.name, True, len(profile.installed))
    if wheelhouse is not None:
        from wheelhouse.net.cache import default_cache_dir
        from wheelhouse.store.copy import local_wheelhouse

        wheelhouse = local_wheelhouse(wheelhouse, default_cache_dir())
    files_dir, files = _image_files(profile, wheelhouse)
    _clear(out)
    try:
        step = Counter(progress, f"creating the environment (Python {version})", None)
        step.start()
        _check_run([python, "-m", "venv", str(out)], "creating the virtual environment")
        step.finish()
        if files:
            _install_files(out, files_dir, files, progress)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave a half-built environment
        raise
    (out / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    return ImageEnv(out, out / "bin" / "python", profile.name, False, len(files))


def stand_in_of(python: str) -> dict[str, str] | None:
    """What the environment an interpreter belongs to stands in for (its stamp), if it was
    built by `build_image_env`."""
    try:
        stamp = json.loads((Path(python).absolute().parent.parent / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _target_python(python: str, profile: Profile) -> tuple[str, str]:
    """The interpreter as a path and its version; refused unless it is the target's X.Y."""
    python = resolve_interpreter(python)
    version = interpreter_version(python)
    if ".".join(version.split(".")[:2]) != profile.python_minor:
        raise UsageError(
            f"{python} is Python {version}, but profile {profile.name} is Python "
            f"{profile.python_version}: give an interpreter of Python {profile.python_minor}"
        )
    return python, version


def _stamped(out: Path, stamp: dict[str, str]) -> bool:
    """True if `out` was built by this function for exactly these inputs."""
    try:
        return bool(json.loads((out / STAMP).read_text()) == stamp)
    except (OSError, ValueError):
        return False


def _image_files(profile: Profile, wheelhouse: Path | None) -> tuple[Path, list[Path]]:
    """The wheelhouse's files folder and the image's files in it; all must be there."""
    if wheelhouse is None:
        if profile.installed:
            raise UsageError(
                f"profile {profile.name} has {len(profile.installed)} installed packages: "
                "give --wheelhouse DIR holding them (lock --image-packages, then sync)"
            )
        return Path(), []
    wh = Wheelhouse(Path(wheelhouse))
    files_dir = wh.files
    built = built_wheels(wh)
    files, missing = find_image_files(profile, files_dir, exclude=set(built))
    if missing:
        raise UsageError(
            f"the wheelhouse {wheelhouse} lacks {len(missing)} of the image's packages: "
            + ", ".join(missing)
            + ". Mirror them first: wheelhouse lock --image-packages "
            f"--image {profile.name} -o image.lock && wheelhouse sync image.lock "
            f"--wheelhouse {wheelhouse}"
        )
    return files_dir, built_instead_of_sdists(files, profile, wh, built)


def built_instead_of_sdists(
    files: list[Path],
    profile: Profile,
    wh: Wheelhouse,
    built: Mapping[str, tuple[str, Provenance]],
) -> list[Path]:
    """Each sdist replaced by the wheel built from those very bytes for the profile's Python
    (recorded in the wheelhouse catalog, hash-checked); all unbuilt sdists named at once."""
    out, unbuilt = [], []
    for path in files:
        if path.name.endswith(".whl"):
            out.append(path)
            continue
        wheel = _built_from(path, built, profile)
        if wheel is None:
            unbuilt.append(path.name)
        else:
            out.append(wheel)
    if unbuilt:
        raise UsageError(
            f"only the sdist of {', '.join(unbuilt)} is in {wh.root}: build it for the image "
            f"with wheelhouse sync image.lock --wheelhouse {wh.root} --build-with PYTHON"
        )
    return out


def _built_from(
    sdist: Path, built: Mapping[str, tuple[str, Provenance]], profile: Profile
) -> Path | None:
    digest = sha256_file(sdist)
    for name, (sha256, prov) in sorted(built.items()):
        if (
            prov.sdist_sha256 == digest
            and prov.python_minor == profile.python_minor
            and wheel_fits(name, profile.tags)
        ):
            wheel = sdist.parent / name
            if not wheel.is_file():
                continue  # removed since: as if never built
            if sha256_file(wheel) != sha256:
                raise IntegrityError(f"{name}, built from {sdist.name}, changed since it was built")
            return wheel
    return None


def _clear(out: Path) -> None:
    """Make room for a new environment where an old stand-in (or nothing) is."""
    if out.exists():
        if not (out / "pyvenv.cfg").is_file() and any(out.iterdir()):
            raise UsageError(f"{out} exists and is not an image environment; not touching it")
        shutil.rmtree(out)


def _install_files(
    out: Path, files_dir: Path, files: list[Path], progress: Progress | None
) -> None:
    """The image's packages into the new environment, from the wheelhouse alone (wheels
    only: its sdists were built by sync --build-with); each file pip takes up is reported."""
    cmd = [
        str(out / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--no-index",
        "--find-links",
        str(files_dir),
        "--no-deps",
        "--progress-bar",
        "off",
        "--only-binary",
        ":all:",
        *map(str, files),
    ]
    step = Counter(progress, "installing the image's packages", len(files))
    step.start()
    _check_run(cmd, "installing the image's packages", step)
    step.finish()


def _check_run(cmd: list[str], what: str, step: Counter | None = None) -> None:
    """Run `cmd`, its output read line by line (for `step`: pip's "Processing FILE"); a
    failure is an error with the output's last lines."""
    tail: deque[str] = deque(maxlen=15)
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=offline_pip_env(),
    ) as proc:
        for line in proc.stdout or ():
            tail.append(line.rstrip())
            if step is not None and line.startswith("Processing "):
                step.advance(Path(line.split(None, 1)[1].strip()).name)
    if proc.returncode != 0:
        text = "\n".join(tail)
        raise WheelhouseError(f"image-env: {what} failed (exit {proc.returncode}):\n{text}")

"""`image-env`: an offline stand-in for the image — a virtual environment of the target's
interpreter holding the profile's installed set, built from the wheelhouse alone.

`run` and `verify --python` use it where the real image cannot be started (no Docker engine).
A package the index has only as an sdist is built by that interpreter, offline.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.errors import IntegrityError, UsageError, WheelhouseError
from wheelhouse.files import sha256_file
from wheelhouse.interpreters import interpreter_version, offline_pip_env, resolve_interpreter
from wheelhouse.model.filenames import parse_filename, wheel_fits
from wheelhouse.model.profile import Profile
from wheelhouse.store.layout import Wheelhouse

log = logging.getLogger("wheelhouse")
STAMP = "wheelhouse-image-env.json"


@dataclass(frozen=True)
class ImageEnv:
    path: Path
    python: Path
    profile_name: str
    reused: bool
    packages: int


def find_image_files(profile: Profile, files_dir: Path) -> tuple[list[Path], list[str]]:
    """Each installed distribution's file in the wheelhouse; and those not found."""
    present = []
    for path in sorted(files_dir.iterdir()) if files_dir.is_dir() else []:
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


def build_image_env(profile: Profile, python: str, wheelhouse: Path, out: Path) -> ImageEnv:
    """Create (or reuse) the stand-in environment at `out`."""
    python = resolve_interpreter(python)
    version = interpreter_version(python)
    if ".".join(version.split(".")[:2]) != profile.python_minor:
        raise UsageError(
            f"{python} is Python {version}, but profile {profile.name} is Python "
            f"{profile.python_version}"
        )
    stamp = {
        "profile": profile.name,
        "profile_digest": profile.digest(),
        "python": str(Path(python).resolve()),
        "python_version": version,
    }
    stamp_path = out / STAMP
    if stamp_path.is_file():
        try:
            if json.loads(stamp_path.read_text()) == stamp:
                return ImageEnv(
                    out, out / "bin" / "python", profile.name, True, len(profile.installed)
                )
        except (OSError, ValueError):
            pass
    files_dir = Wheelhouse(Path(wheelhouse)).files
    files, missing = find_image_files(profile, files_dir)
    if missing:
        raise UsageError(
            f"the wheelhouse {wheelhouse} lacks {len(missing)} of the image's packages: "
            + ", ".join(missing)
            + ". Mirror them first: wheelhouse lock --image-packages "
            f"--image {profile.name} -o image.lock && wheelhouse sync image.lock "
            f"--wheelhouse {wheelhouse}"
        )
    if out.exists():
        if not (out / "pyvenv.cfg").is_file() and any(out.iterdir()):
            raise UsageError(f"{out} exists and is not an image environment; not touching it")
        shutil.rmtree(out)
    try:
        _check_run([python, "-m", "venv", str(out)], "creating the virtual environment")
        _check_run(
            [
                str(out / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--no-index",
                "--find-links",
                str(files_dir),
                "--no-deps",
                "-q",
                # sdists build with the environment's own setuptools: nothing is fetched
                "--no-build-isolation",
                *map(str, files),
            ],
            "installing the image's packages",
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave a half-built environment
        raise
    stamp_path.write_text(json.dumps(stamp, indent=1) + "\n")
    return ImageEnv(out, out / "bin" / "python", profile.name, False, len(files))


def _check_run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=offline_pip_env())
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise WheelhouseError(f"image-env: {what} failed (exit {proc.returncode}):\n{tail}")

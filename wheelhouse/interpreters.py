"""The target's own interpreter, run from the host: found, asked its version, given an
environment of its own (none of this host's pip or Python settings leak into it).

Install (byte-code), verify (imports) and the image's stand-in all run the target's
interpreter; they find and start it through these few functions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from wheelhouse.errors import UsageError

# Host settings that would change what the target's pip or interpreter does.
_HOST_PREFIXES = ("PIP_", "PYTHON")


_VERSION = re.compile(r"^(\d+)\.(\d+)(\.\d+)?$")


def resolve_interpreter(python: str) -> str:
    """An interpreter as an absolute path, so it still works from another working folder.
    A bare version (`3.7`, `3.7.16`) finds an interpreter of that version."""
    if _VERSION.match(python):
        return find_python(python)
    if os.sep in python or (os.altsep and os.altsep in python):
        path = Path(python).absolute()
        if not path.exists():
            raise UsageError(f"no interpreter at {python}")
        return str(path)
    found = shutil.which(python)
    if found is None:
        raise UsageError(f"no interpreter named {python} on PATH")
    return found


def find_python(version: str) -> str:
    """An interpreter of `version` (X.Y, or X.Y.Z exactly): `pythonX.Y` on PATH, else the
    newest matching one of pyenv's versions (where `pythonX.Y` may be a shim that runs
    only the selected version)."""
    m = _VERSION.match(version)
    if not m:
        raise UsageError(f"not a Python version: {version!r} (give e.g. 3.7 or 3.7.16)")
    minor = f"{m.group(1)}.{m.group(2)}"
    for candidate in _candidates(minor):
        found = _version_of(candidate)
        if found is not None and (found == version or (not m.group(3) and _minor(found) == minor)):
            return candidate
    raise UsageError(
        f"no Python {version} found (looked for python{minor} on PATH and in pyenv's "
        "versions); give the interpreter's path"
    )


def _candidates(minor: str) -> list[str]:
    found = [shutil.which(f"python{minor}")]
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if versions.is_dir():
        mine = [d for d in versions.iterdir() if _minor(d.name) == minor]
        for folder in sorted(mine, key=lambda d: _sort_key(d.name), reverse=True):
            found.append(str(folder / "bin" / f"python{minor}"))
    return [c for c in found if c and os.access(c, os.X_OK)]


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _sort_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def _version_of(python: str) -> str | None:
    """The interpreter's full version, or None if it does not run (a shim without it)."""
    try:
        return interpreter_version(python)
    except UsageError:
        return None


def interpreter_version(python: str) -> str:
    """The full version of an interpreter, asked of it."""
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as exc:
        raise UsageError(f"cannot run {python}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired:
        raise UsageError(f"{python} did not report its version within 60 s") from None
    if out.returncode != 0:
        raise UsageError(f"{python} failed to report its version: {out.stderr.strip()}")
    return out.stdout.strip()


def check_interpreter(python: str, python_minor: str) -> str:
    """The interpreter's full version if it is the target's X.Y; else a usage error."""
    version = interpreter_version(python)
    minor = ".".join(version.split(".")[:2])
    if minor != python_minor:
        raise UsageError(f"{python} is Python {version}; the target is Python {python_minor}")
    return version


def target_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its PIP_* and PYTHON* settings, plus `overrides`:
    the image's environment is its own, not this host's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_HOST_PREFIXES)}
    env.update(overrides or {})
    return env


def offline_pip_env() -> dict[str, str]:
    """The environment for the target's pip: no configuration, no index, no cache."""
    return target_env(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )

"""Byte-code written by the target's own interpreter, never the host's.

Worth it for a read-only mount, where Python cannot cache byte-code and compiles every
module on every start. The pyc files use unchecked hashes: the same source gives the same
bytes, and the tree is immutable once packed, so nothing needs re-checking at import.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.errors import UsageError

log = logging.getLogger("wheelhouse")


@dataclass(frozen=True)
class CompileResult:
    python: str
    version: str  # "3.7.16"
    warnings: str  # compileall's complaints (files it could not compile)


def resolve_interpreter(python: str) -> str:
    """An interpreter as an absolute path, so it still works from another working folder."""
    if os.sep in python or (os.altsep and os.altsep in python):
        path = Path(python).absolute()
        if not path.exists():
            raise UsageError(f"no interpreter at {python}")
        return str(path)
    found = shutil.which(python)
    if found is None:
        raise UsageError(f"no interpreter named {python} on PATH")
    return found


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


def compile_tree(python: str, python_minor: str, site_packages: Path) -> CompileResult:
    """Compile every module under site_packages with `python -m compileall`."""
    python = resolve_interpreter(python)
    version = check_interpreter(python, python_minor)
    # Run from inside the folder with "." so no absolute (staging) path is embedded.
    cmd = [
        python,
        "-m",
        "compileall",
        "-q",
        "-j0",
        "-r",
        "1000",
        "--invalidation-mode",
        "unchecked-hash",
        ".",
    ]
    log.info("compiling with Python %s", version)
    out = subprocess.run(
        cmd,
        cwd=site_packages,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": "0"},
    )
    warnings = ""
    if out.returncode != 0:
        # compileall fails for any file it cannot compile (e.g. templates); pip ignores those too
        warnings = (out.stdout + out.stderr).strip()
        log.warning("some files were not compiled:\n%s", warnings[-2000:])
    return CompileResult(python=python, version=version, warnings=warnings)

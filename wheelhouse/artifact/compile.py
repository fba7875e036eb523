"""Byte-code written by the target's own interpreter, never the host's.

Worth it for a read-only mount, where Python cannot cache byte-code and compiles every
module on every start. The pyc files use unchecked hashes: the same source gives the same
bytes, and the tree is immutable once packed, so nothing needs re-checking at import.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.interpreters import check_interpreter, resolve_interpreter

log = logging.getLogger("wheelhouse")


@dataclass(frozen=True)
class CompileResult:
    python: str
    version: str  # "3.7.16"
    warnings: str  # compileall's complaints (files it could not compile)


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

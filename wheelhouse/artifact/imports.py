"""Import every top-level module of an installed tree under the target's interpreter.

The path is set as the image sets it: the site-packages folder prepended to PYTHONPATH.
Byte-code writing is off, so checking never changes the tree.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.errors import UsageError
from wheelhouse.interpreters import resolve_interpreter

_MARK = "@@wheelhouse-imports@@"
_SCRIPT = f"""
import importlib, json, sys, traceback
out = {{"python": "%d.%d.%d" % sys.version_info[:3], "modules": {{}}}}
for name in json.loads(sys.argv[1]):
    try:
        mod = importlib.import_module(name)
        where = getattr(mod, "__file__", None) or list(getattr(mod, "__path__", []))[:1]
        out["modules"][name] = {{"ok": True, "file": where if isinstance(where, str)
                                 else (where[0] if where else None)}}
    except BaseException:
        out["modules"][name] = {{"ok": False, "error": traceback.format_exc()}}
sys.stdout.write("\\n{_MARK}" + json.dumps(out))
"""
TAIL_LINES = 8


@dataclass(frozen=True)
class ImportOutcome:
    module: str
    ok: bool
    file: str | None = None
    error_tail: str = ""  # the last lines of the traceback


@dataclass(frozen=True)
class ImportRun:
    python: str
    python_version: str
    outcomes: tuple[ImportOutcome, ...]


def top_level_modules(record_paths: Iterable[str]) -> list[str]:
    """Importable top-level names from RECORD paths (relative to site-packages)."""
    names: set[str] = set()
    for path in record_paths:
        if path.startswith("../"):
            continue
        first, _, rest = path.partition("/")
        if first.endswith((".dist-info", ".data", ".egg-info")) or first == "__pycache__":
            continue
        if rest:
            name = first
        elif first.endswith(".py"):
            name = first[:-3]
        elif first.endswith((".so", ".pyd")):
            name = first.split(".", 1)[0]
        else:
            continue
        if name.isidentifier():
            names.add(name)
    return sorted(names)


def import_modules(
    python: str, site_packages: Path, modules: Sequence[str], timeout: float = 600
) -> ImportRun:
    """Import each module in one fresh interpreter; a failure does not stop the others."""
    python = resolve_interpreter(python)
    site_packages = site_packages.absolute()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site_packages)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    try:
        proc = subprocess.run(
            [python, "-c", _SCRIPT, json.dumps(list(modules))],
            capture_output=True,
            text=True,
            env=env,
            cwd=site_packages.parent,
            timeout=timeout,
        )
    except OSError as exc:
        raise UsageError(f"cannot run {python}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise UsageError(
            f"importing the artifact's modules with {python} took over {timeout}s"
        ) from exc
    if _MARK not in proc.stdout:
        raise UsageError(
            f"{python} stopped while importing the artifact's modules "
            f"(exit {proc.returncode}):\n{_tail(proc.stderr)}"
        )
    data = json.loads(proc.stdout.rsplit(_MARK, 1)[1])
    outcomes = tuple(
        ImportOutcome(
            module=name,
            ok=bool(info["ok"]),
            file=info.get("file"),
            error_tail=_tail(info.get("error", "")),
        )
        for name, info in sorted(data["modules"].items())
    )
    return ImportRun(python=python, python_version=data["python"], outcomes=outcomes)


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])

"""Import top-level modules under the target's interpreter, each in a fresh process.

The path is set as the image sets it: the site-packages folder prepended to PYTHONPATH.
Byte-code writing is off, so checking never changes the tree.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.errors import UsageError
from wheelhouse.interpreters import resolve_interpreter

_MARK = "@@wheelhouse-imports@@"
# One module per process: a module that breaks the interpreter's state (or another module's
# import) cannot hide or cause a failure elsewhere, as in the image, where each start is new.
_SCRIPT = f"""
import importlib, json, sys, traceback
out = {{"python": "%d.%d.%d" % sys.version_info[:3], "ok": True}}
try:
    mod = importlib.import_module(sys.argv[1])
    where = getattr(mod, "__file__", None) or list(getattr(mod, "__path__", []))[:1]
    out["file"] = where if isinstance(where, str) else (where[0] if where else None)
except BaseException:
    out.update(ok=False, error=traceback.format_exc())
sys.stdout.write("\\n{_MARK}" + json.dumps(out))
"""
TAIL_LINES = 8
WORKERS = 2  # imports are CPU-bound; the machines this runs on have few cores


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
    python: str, site_packages: Path, modules: Sequence[str], timeout: float = 300
) -> ImportRun:
    """Import each module in a fresh interpreter with the folder first on PYTHONPATH, as the
    image sets it; a failure does not stop the others."""
    python = resolve_interpreter(python)
    site_packages = site_packages.absolute()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site_packages)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    run = functools.partial(_import_one, python, env, site_packages.parent, timeout)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(run, modules))
    versions = [v for _, v in results if v]
    if modules and not versions:
        raise UsageError(f"{python} did not report its version while importing modules")
    outcomes = tuple(sorted((o for o, _ in results), key=lambda o: o.module))
    return ImportRun(
        python=python, python_version=versions[0] if versions else "", outcomes=outcomes
    )


def _import_one(
    python: str, env: dict[str, str], cwd: Path, timeout: float, module: str
) -> tuple[ImportOutcome, str]:
    """One module imported in its own process: the outcome and the interpreter's version."""
    try:
        proc = subprocess.run(
            [python, "-c", _SCRIPT, module],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
        )
    except OSError as exc:
        raise UsageError(f"cannot run {python}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired:
        return ImportOutcome(module, False, error_tail=f"import took over {timeout:.0f}s"), ""
    if _MARK not in proc.stdout:
        # the interpreter died (a crash in an extension module): that is a failure too
        tail = _tail(proc.stderr) or f"the interpreter exited with {proc.returncode}"
        return ImportOutcome(module, False, error_tail=tail), ""
    data = json.loads(proc.stdout.rsplit(_MARK, 1)[1])
    outcome = ImportOutcome(
        module=module,
        ok=bool(data["ok"]),
        file=data.get("file"),
        error_tail=_tail(data.get("error", "")),
    )
    return outcome, str(data["python"])


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])

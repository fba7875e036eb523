"""Import top-level modules under the target's interpreter, each in a fresh process.

The path is set as the image sets it: the site-packages folder prepended to PYTHONPATH.
Byte-code writing is off, so checking never changes the tree. What a module prints is kept
in temporary files and read back bounded (the end of each), never held whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from wheelhouse.errors import UsageError
from wheelhouse.interpreters import resolve_interpreter
from wheelhouse.progress import Counter, Progress

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
sys.stdout.write("\\n{_MARK}" + json.dumps(out) + "\\n")
"""
TAIL_LINES = 8
TAIL_BYTES = 1 << 20  # of each process's output, read back from its end
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
    python: str,
    site_packages: Path,
    modules: Sequence[str],
    timeout: float = 300,
    progress: Progress | None = None,
) -> ImportRun:
    """Import each module in a fresh interpreter with the folder first on PYTHONPATH, as the
    image sets it; a failure does not stop the others. Each is reported as it is done."""
    python = resolve_interpreter(python)
    site_packages = site_packages.absolute()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site_packages)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    step = Counter(progress, f"importing modules under {python}", len(modules))
    step.start()
    results: list[tuple[ImportOutcome, str]] = []
    with ThreadPoolExecutor(WORKERS) as pool:
        futures: dict[Future[tuple[ImportOutcome, str]], str] = {
            pool.submit(_import_one, python, env, site_packages.parent, timeout, m): m
            for m in modules
        }
        for future in as_completed(futures):
            results.append(future.result())
            step.advance(futures[future])
    step.finish()
    versions = [v for _, v in results if v]
    if modules and not versions:
        raise UsageError(f"{python} did not report its version while importing modules")
    outcomes = tuple(sorted((o for o, _ in results), key=lambda o: o.module))
    return ImportRun(python, versions[0] if versions else "", outcomes)


def _import_one(
    python: str, env: dict[str, str], cwd: Path, timeout: float, module: str
) -> tuple[ImportOutcome, str]:
    """One module imported in its own process: the outcome and the interpreter's version."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                [python, "-c", _SCRIPT, module],
                stdout=out,
                stderr=err,
                env=env,
                cwd=cwd,
                timeout=timeout,
            )
        except OSError as exc:
            raise UsageError(f"cannot run {python}: {exc.strerror}") from exc
        except subprocess.TimeoutExpired:
            return ImportOutcome(module, False, error_tail=f"import took over {timeout:.0f}s"), ""
        stdout, stderr = _end_of(out), _end_of(err)
    if _MARK not in stdout:
        # the interpreter died (a crash in an extension module): that is a failure too
        tail = _tail(stderr) or f"the interpreter exited with {proc.returncode}"
        return ImportOutcome(module, False, error_tail=tail), ""
    try:
        data = json.loads(stdout.rsplit(_MARK, 1)[1])
    except ValueError:
        return ImportOutcome(module, False, error_tail="its report was garbled"), ""
    outcome = ImportOutcome(
        module=module,
        ok=bool(data.get("ok")),
        file=data.get("file"),
        error_tail=_tail(str(data.get("error", ""))),
    )
    return outcome, str(data.get("python", ""))


def _end_of(f: IO[bytes]) -> str:
    """The last TAIL_BYTES of what a process wrote."""
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - TAIL_BYTES))
    return f.read().decode("utf-8", "replace")


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])

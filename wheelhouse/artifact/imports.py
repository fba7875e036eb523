"""Import every top-level module of an installed tree under the target's interpreter.

The path is set as the image sets it: the site-packages folder prepended to PYTHONPATH.
Byte-code writing is off, so checking never changes the tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wheelhouse.errors import UsageError
from wheelhouse.interpreters import resolve_interpreter
from wheelhouse.progress import Counter, Progress

_MARK = "@@wheelhouse-imports@@"
# One line per module as it is imported (so the caller can show progress), then the end.
_SCRIPT = f"""
import importlib, json, sys, traceback
def say(*item):
    sys.stdout.write("\\n{_MARK}" + json.dumps(item) + "\\n")
    sys.stdout.flush()
say("python", "%d.%d.%d" % sys.version_info[:3])
for name in json.loads(sys.argv[1]):
    try:
        mod = importlib.import_module(name)
        where = getattr(mod, "__file__", None) or list(getattr(mod, "__path__", []))[:1]
        say("module", name, {{"ok": True, "file": where if isinstance(where, str)
                              else (where[0] if where else None)}})
    except BaseException:
        say("module", name, {{"ok": False, "error": traceback.format_exc()}})
say("end")
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
    python: str,
    site_packages: Path,
    modules: Sequence[str],
    timeout: float = 600,
    progress: Progress | None = None,
) -> ImportRun:
    """Import each module in one fresh interpreter; a failure does not stop the others.
    Each module is reported as it is done (imports of big packages take seconds)."""
    python = resolve_interpreter(python)
    site_packages = site_packages.absolute()
    step = Counter(progress, f"importing modules under {python}", len(modules))
    step.start()
    with tempfile.TemporaryFile() as err:
        lines = _run_script(python, site_packages, modules, timeout, err, step.advance)
        err.seek(0)
        errors = err.read(1 << 20).decode("utf-8", "replace")
    step.finish()
    return _outcomes(python, lines, errors)


def _run_script(
    python: str,
    site_packages: Path,
    modules: Sequence[str],
    timeout: float,
    stderr: IO[bytes],
    done: Callable[[str], None],
) -> list[list[Any]]:
    """The script's report lines, read as they come; killed after `timeout` seconds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site_packages)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    cmd = [python, "-c", _SCRIPT, json.dumps(list(modules))]
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=site_packages.parent
        )
    except OSError as exc:
        raise UsageError(f"cannot run {python}: {exc.strerror}") from exc
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    try:
        lines = _report_lines(proc.stdout, done)
        proc.wait()
    finally:
        watchdog.cancel()
        proc.kill()
    if timed_out.is_set():
        raise UsageError(f"importing the artifact's modules with {python} took over {timeout}s")
    return lines


def _report_lines(stdout: IO[bytes] | None, done: Callable[[str], None]) -> list[list[Any]]:
    """The script's marked lines among whatever the imported modules print."""
    lines: list[list[Any]] = []
    mark = _MARK.encode()
    for raw in stdout or ():
        if raw.startswith(mark):
            try:
                item = json.loads(raw[len(mark) :])
            except ValueError:
                continue  # a module printed over our line
            if not isinstance(item, list) or not item:
                continue
            lines.append(item)
            if item[0] == "module":
                done(str(item[1]))
    return lines


def _outcomes(python: str, lines: list[list[Any]], errors: str) -> ImportRun:
    if lines[-1:] != [["end"]]:
        raise UsageError(
            f"{python} stopped while importing the artifact's modules:\n{_tail(errors)}"
        )
    version = next((str(line[1]) for line in lines if line[0] == "python"), "")
    outcomes = tuple(
        ImportOutcome(
            module=line[1],
            ok=bool(line[2]["ok"]),
            file=line[2].get("file"),
            error_tail=_tail(line[2].get("error", "")),
        )
        for line in sorted((x for x in lines if x[0] == "module"), key=lambda x: str(x[1]))
    )
    return ImportRun(python=python, python_version=version, outcomes=outcomes)


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])

"""Realistic requirement sets taken the whole way, as a user would, against the built-in
image profile: lock, sync, install, verify with the image's stand-in, then a short script per
set that uses the packages under Python 3.7.

Each set is a folder here with `requirements.in` and `smoke.py`. One wheelhouse, one cache
and one image stand-in serve every set of a run (under `.scenarios/` unless
$WH_SCENARIOS_DIR says otherwise), so a second run downloads nothing. Used by
tests/test_scenarios.py (marked live and py37) and bench/bench_scenarios.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.cli import main
from wheelhouse.interpreters import target_env
from wheelhouse.model.lockfiles import load_lock

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SMOKE_TIMEOUT = 300
SITE = "lib/python3.7/site-packages"


def scenario_names() -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if (p / "requirements.in").is_file())


def work_dir() -> Path:
    return Path(os.environ.get("WH_SCENARIOS_DIR") or ROOT / ".scenarios")


@dataclass(frozen=True)
class Stage:
    """What every set shares: the wheelhouse, the cache and the image's stand-in."""

    work: Path
    wheelhouse: Path
    cache: Path
    python: Path  # the stand-in's interpreter


@dataclass(frozen=True)
class Outcome:
    """One set's row of the table."""

    name: str
    to_install: int
    overrides: tuple[str, ...]  # "name version (image version): chain"
    active_extras: tuple[str, ...]
    lock_seconds: float
    verify_ok: bool
    verify_errors: tuple[str, ...]
    smoke_ok: bool
    smoke_output: str

    @property
    def passed(self) -> bool:
        return self.verify_ok and self.smoke_ok


def cli(*argv: str) -> tuple[int, str]:
    """The command line as a user runs it, in this process; its exit code and output (what
    it printed, then what it logged)."""
    code, out, err = cli_streams(*argv)
    return code, out + err


def cli_streams(*argv: str) -> tuple[int, str, str]:
    """The exit code, standard output and standard error of one command."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def prepare(python37: str, work: Path | None = None) -> Stage:
    """The image's packages mirrored and its stand-in built (reused when up to date)."""
    work = work or work_dir()
    stage = Stage(work, work / "wheelhouse", work / "cache", work / "image-env" / "bin" / "python")
    work.mkdir(parents=True, exist_ok=True)
    image_lock = work / "image.lock"
    _ok(cli("lock", "--image-packages", "-o", str(image_lock), "--cache-dir", str(stage.cache)))
    # the image's sdist-only packages (wrapt) built by the image's Python, as the README does
    _ok(
        cli(
            "sync", str(image_lock), "--wheelhouse", str(stage.wheelhouse), "--build-with", python37
        )
    )
    image_env = str(work / "image-env")
    _ok(cli("image-env", image_env, "--python", python37, "--wheelhouse", str(stage.wheelhouse)))
    return stage


def run_scenario(name: str, stage: Stage) -> Outcome:
    """One set through lock, sync, install, verify and its smoke script."""
    folder, out = HERE / name, stage.work / "sets" / name
    out.mkdir(parents=True, exist_ok=True)
    lock_path = out / "requirements.lock"
    lock_path.unlink(missing_ok=True)  # time a real resolution, not the unchanged-inputs path
    started = time.perf_counter()
    argv = ["lock", "-r", str(folder / "requirements.in"), "-o", str(lock_path)]
    code, text = cli(*argv, "--cache-dir", str(stage.cache))
    seconds = time.perf_counter() - started
    if code != 0:
        return Outcome(name, 0, (), (), seconds, False, (f"lock: {text.strip()}",), False, "")
    lock = load_lock(lock_path)
    _ok(cli("sync", str(lock_path), "--wheelhouse", str(stage.wheelhouse)))
    target = out / "myenv"
    _ok(
        cli(
            "install",
            str(lock_path),
            "--wheelhouse",
            str(stage.wheelhouse),
            "--target",
            str(target),
        )
    )
    errors = _verify(target, lock_path, stage.python)
    smoke_ok, smoke = _smoke(folder / "smoke.py", target / SITE, stage.python)
    return Outcome(
        name=name,
        to_install=len(lock.to_install()),
        overrides=tuple(
            f"{p.name} {p.version} (image {p.image_version}): {p.override_chain}"
            for p in lock.overrides()
        ),
        active_extras=tuple(a.shown for a in lock.active_extras),
        lock_seconds=seconds,
        verify_ok=not errors,
        verify_errors=errors,
        smoke_ok=smoke_ok,
        smoke_output=smoke,
    )


def _verify(target: Path, lock: Path, python: Path) -> tuple[str, ...]:
    argv = ["verify", str(target), "--lock", str(lock), "--python", str(python), "--json"]
    code, text, _ = cli_streams(*argv)
    report = json.loads(text)
    errors = tuple(
        f"{f['subject']}: {f['message']}" for f in report["findings"] if f["severity"] == "error"
    )
    return errors if code != 0 else ()


def _smoke(script: Path, site: Path, python: Path) -> tuple[bool, str]:
    """The set's script under the stand-in's Python with the folder first, as the image runs."""
    env = target_env({"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        proc = subprocess.run(
            [str(python), str(script)],
            capture_output=True,
            text=True,
            env=env,
            cwd=site.parent,
            timeout=SMOKE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {SMOKE_TIMEOUT}s"
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, "\n".join(text.splitlines()[-8:])


def _ok(result: tuple[int, str]) -> None:
    code, text = result
    if code != 0:
        raise RuntimeError(f"exit {code}:\n{text}")


def render_table(outcomes: list[Outcome]) -> str:
    """The suite's results as a Markdown table, then the overrides and failures spelled out."""
    lines = [
        "| set | to install | overrides | active extras | lock | verify | smoke on 3.7 |",
        "| --- | ---: | --- | --- | ---: | --- | --- |",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.name} | {o.to_install} | "
            f"{', '.join(x.split(' (')[0] for x in o.overrides) or 'none'} | "
            f"{', '.join(a.split(':')[0] for a in o.active_extras) or 'none'} | "
            f"{o.lock_seconds:.1f} s | {'pass' if o.verify_ok else 'FAIL'} | "
            f"{'pass' if o.smoke_ok else 'FAIL'} |"
        )
    for o in outcomes:
        lines += [f"- {o.name}: override {x}" for x in o.overrides]
        lines += [f"- {o.name}: verify: {e}" for e in o.verify_errors]
        if not o.smoke_ok:
            lines.append(f"- {o.name}: smoke: {o.smoke_output.splitlines()[-1:] or ''}")
    return "\n".join(lines) + "\n"

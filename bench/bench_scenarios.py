"""Keeping the image: lock times of the scenario sets next to `uv pip compile` given the
image's versions as constraints, and next to wheelhouse before the image was preferred, in
one run; then (with --full) the scenario suite's table (sync, install, verify with the
image's stand-in, smoke script under Python 3.7).

    .venv/bin/python bench/bench_scenarios.py [--runs 3] [--before 2216298] [--full]

Every tool reads pip's configured main index (`--index-url`, so all three see the same
files); uv gets `--python-platform x86_64-manylinux_2_17` (it has no 2_27) and
`--only-binary :all:`. Cold: a fresh cache; warm: the median of --runs with it kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import find_python37  # noqa: E402
from tests.scenarios import HERE, prepare, render_table, run_scenario, scenario_names  # noqa: E402
from wheelhouse.model.profile import load_profile  # noqa: E402


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, bool]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, proc.returncode == 0


def overrides(lock: Path) -> int:
    text = lock.read_text() if lock.is_file() else ""
    return text.count("# override: replaces")


def uv_moves(lock: Path, image: dict[str, str]) -> int:
    """uv cannot override a constraint: count pins that differ from the image (always 0)."""
    moved = 0
    for line in lock.read_text().splitlines() if lock.is_file() else []:
        name, _, version = line.partition("==")
        version = version.split(" ")[0]
        if not line.startswith(("#", " ")) and name in image and image[name] != version:
            moved += 1
    return moved


def tools(index: str, before: Path | None, uv: str, work: Path) -> dict[str, list[str]]:
    wh = [sys.executable, "-m", "wheelhouse", "-q", "lock", "--index-url", index]
    out = {"wheelhouse": wh}
    if before is not None:
        out["before"] = wh
    constraints = work / "image-constraints.txt"
    image = load_profile(None)
    constraints.write_text("".join(f"{d.name}=={d.version}\n" for d in image.installed))
    out["uv"] = [
        uv,
        "pip",
        "compile",
        "--python-version",
        "3.7",
        "--python-platform",
        "x86_64-manylinux_2_17",
        "--only-binary",
        ":all:",
        "--index-url",
        index,
        "-c",
        str(constraints),
        "--quiet",
        "--no-config",
    ]
    return out


def command(tool: str, base: list[str], name: str, cache: Path, lock: Path) -> list[str]:
    reqs = str(HERE / name / "requirements.in")
    if tool == "uv":
        return [*base, reqs, "-o", str(lock), "--cache-dir", str(cache)]
    return [*base, "-r", reqs, "-o", str(lock), "--cache-dir", str(cache)]


def lock_times(args: argparse.Namespace, work: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not uv:
        sys.exit("uv is not installed (pip install uv): it is the peer this compares with")
    from wheelhouse.net.pipconfig import load_index_config

    index = load_index_config().indexes()[0]
    before = export(args.before, work) if args.before else None
    cmds = tools(index, before, uv, work)
    image = {d.name: d.version for d in load_profile(None).installed}
    print(f"lock for the built-in profile (cp37, image as constraints for uv) from {index}")
    print(
        f"{'set':20}" + "".join(f"{t + ' cold':>16}{t + ' warm':>16}" for t in cmds) + "  overrides"
    )
    totals = {t: [0.0, 0.0] for t in cmds}
    for name in scenario_names():
        row, moved = [], []
        for tool, base in cmds.items():
            env = {**os.environ, "PYTHONPATH": str(before if tool == "before" else ROOT)}
            cache, lock = work / f"cache-{tool}-{name}", work / f"{tool}-{name}.lock"
            shutil.rmtree(cache, ignore_errors=True)
            lock.unlink(missing_ok=True)
            cold, ok = timed(command(tool, base, name, cache, lock), env, work)
            warm = []
            for _ in range(args.runs):
                lock.unlink(missing_ok=True)
                warm.append(timed(command(tool, base, name, cache, lock), env, work)[0])
            med = statistics.median(warm)
            totals[tool][0] += cold
            totals[tool][1] += med
            row.append(f"{cold:>15.2f}s{med:>15.2f}s" if ok else f"{'no resolution':>32}")
            moved.append(f"{tool} {uv_moves(lock, image) if tool == 'uv' else overrides(lock)}")
        print(f"{name:20}" + "".join(row) + "  " + ", ".join(moved))
    print(f"{'total':20}" + "".join(f"{c:>15.2f}s{w:>15.2f}s" for c, w in totals.values()))


def export(rev: str, work: Path) -> Path:
    """The tree of an older commit, to run its wheelhouse beside this one."""
    folder = work / f"wheelhouse-{rev}"
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def full_suite() -> None:
    python37 = find_python37()
    if not python37:
        sys.exit("--full needs a Python 3.7 (pyenv 3.7.x or $WH_TEST_PYTHON37)")
    stage = prepare(python37)
    outcomes = [run_scenario(name, stage) for name in scenario_names()]
    table = render_table(outcomes)
    (ROOT / "bench" / "scenario-results.md").write_text(
        "# Scenario suite (bench/bench_scenarios.py --full)\n\n" + table
    )
    print(table)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="warm runs per tool and set")
    ap.add_argument("--before", metavar="REV", help="also time wheelhouse at this commit")
    ap.add_argument("--full", action="store_true", help="then run the whole scenario suite")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scenarios-"))
    try:
        lock_times(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.full:
        full_suite()


if __name__ == "__main__":
    main()

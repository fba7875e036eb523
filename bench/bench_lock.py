"""Time `wheelhouse lock` against `uv pip compile` for the same target, in one run.

Locks scikit-learn, pandas and lightgbm for CPython 3.7 on manylinux_2_17 x86_64 (a bare
target, so both tools resolve the same problem) from pip's configured main index:
cold cache, warm cache, and (wheelhouse) unchanged inputs. Prints medians side by side.

    .venv/bin/python bench/bench_lock.py [--runs 3]
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

REQS = ["scikit-learn", "pandas", "lightgbm"]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not uv:
        sys.exit("uv is not installed (pip install uv): it is the peer this compares with")
    from wheelhouse.net.pipconfig import load_index_config

    index = load_index_config().indexes()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-lock-"))
    (work / "requirements.in").write_text("\n".join(REQS) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    wh = [
        sys.executable,
        "-m",
        "wheelhouse",
        "-q",
        "lock",
        "-r",
        "requirements.in",
        "--python-version",
        "3.7",
        "--platform",
        "manylinux_2_27_x86_64",
        "--index-url",
        index,
        "-o",
        "wh.lock",
    ]
    uvc = [
        uv,
        "pip",
        "compile",
        "requirements.in",
        "--python-version",
        "3.7",
        "--python-platform",
        "x86_64-manylinux_2_17",
        "--only-binary",
        ":all:",
        "--generate-hashes",
        "--index-url",
        index,
        "-o",
        "uv.lock",
        "--quiet",
        "--no-config",
    ]
    results: dict[str, list[float]] = {
        k: [] for k in ("wh cold", "uv cold", "wh warm", "uv warm", "wh same")
    }
    for _ in range(args.runs):
        wh_cache, uv_cache = work / "wh-cache", work / "uv-cache"
        shutil.rmtree(wh_cache, ignore_errors=True)
        shutil.rmtree(uv_cache, ignore_errors=True)
        for f in ("wh.lock", "pylock.wh.toml", "uv.lock"):
            (work / f).unlink(missing_ok=True)
        results["wh cold"].append(timed([*wh, "--cache-dir", str(wh_cache)], env, work))
        results["uv cold"].append(timed([*uvc, "--cache-dir", str(uv_cache)], env, work))
        (work / "wh.lock").unlink()
        results["wh warm"].append(timed([*wh, "--cache-dir", str(wh_cache)], env, work))
        results["uv warm"].append(timed([*uvc, "--cache-dir", str(uv_cache)], env, work))
        results["wh same"].append(timed([*wh, "--cache-dir", str(wh_cache)], env, work))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"lock {' '.join(REQS)} for cp37 manylinux_2_17_x86_64 from {index} (median of {args.runs})"
    )
    print(f"{'':18}{'wheelhouse':>12}{'uv':>10}{'ratio':>8}")
    for phase in ("cold", "warm"):
        w, u = med[f"wh {phase}"], med[f"uv {phase}"]
        print(f"{phase + ' cache':18}{w:>11.2f}s{u:>9.2f}s{w / u:>8.2f}")
    print(f"{'unchanged inputs':18}{med['wh same']:>11.3f}s{'-':>10}")

    def pins(p: Path) -> list[str]:
        return sorted(
            line.split(" ")[0]
            for line in p.read_text().splitlines()
            if "==" in line and not line.startswith("#")
        )

    ours, theirs = set(pins(work / "wh.lock")), set(pins(work / "uv.lock"))
    print("pins only in wheelhouse's lock:", " ".join(sorted(ours - theirs)) or "none")
    print("pins only in uv's lock:       ", " ".join(sorted(theirs - ours)) or "none")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

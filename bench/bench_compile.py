"""What `install --compile-with` saves at import time on a read-only mount, under Python 3.7.

    python bench/bench_compile.py --python PYTHON3.7 [--real-wheels DIR] [--runs R]

Installs the same lock twice (without byte-code, and with --compile-with PYTHON), then times
`PYTHON -c "import X"` for a few packages with PYTHONDONTWRITEBYTECODE=1, which is what a
read-only mount does to Python: no byte-code can be cached, so every start compiles again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_install import make_lock

from wheelhouse.model.pylock import render_pylock

BIN = Path(sys.executable).parent
MODULES = ("sympy", "pandas", "sklearn.ensemble", "scipy.stats", "dateutil.parser")


def install(lock: Path, house: Path, out: Path, *extra: str) -> float:
    cmd = [str(BIN / "wheelhouse"), "-q", "install", str(lock), "--wheelhouse", str(house)]
    started = time.perf_counter()
    subprocess.run([*cmd, "--target", str(out), *extra], check=True, capture_output=True)
    return time.perf_counter() - started


def import_time(python: str, site: Path, module: str, runs: int) -> float:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([python, "-c", f"import {module}"], check=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", required=True, help="a real Python 3.7")
    parser.add_argument("--real-wheels", type=Path, default=Path("/tmp/wh-bench-cache"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wheelhouse-compile-") as tmp:
        work = Path(tmp)
        files = work / "wheelhouse" / "files"
        files.mkdir(parents=True)
        for w in sorted(args.real_wheels.glob("*.whl")):
            (files / w.name).write_bytes(w.read_bytes())
        lock = work / "pylock.toml"
        lock.write_text(render_pylock(make_lock(sorted(files.glob("*.whl")))))
        plain, compiled = work / "plain", work / "compiled"
        t_plain = install(lock, work / "wheelhouse", plain)
        t_comp = install(lock, work / "wheelhouse", compiled, "--compile-with", args.python)
        print(
            f"install: {t_plain:.2f}s without byte-code ({size_mb(plain):.0f} MB), "
            f"{t_comp:.2f}s with --compile-with ({size_mb(compiled):.0f} MB)\n"
        )
        print(f"{'import (read-only emulated)':28} {'no pyc s':>9} {'pyc s':>7} {'saved':>7}")
        site = "lib/python3.7/site-packages"
        for module in MODULES:
            a = import_time(args.python, plain / site, module, args.runs)
            b = import_time(args.python, compiled / site, module, args.runs)
            print(f"{module:28} {a:9.2f} {b:7.2f} {100 * (a - b) / a:6.0f}%")
        print(f"\nmedian of {args.runs} runs each, PYTHONDONTWRITEBYTECODE=1, {args.python}")


if __name__ == "__main__":
    main()

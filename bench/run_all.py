"""Every benchmark in one session, each printing its figures beside its peers' (uv, pip,
nginx where installed; bench_nginx.py: serve and the generated nginx configuration beside
plain nginx), so that the README's tables can be re-measured with one command:

    make bench                       # or: .venv/bin/python bench/run_all.py [--quick]

The real wheels the install and byte-code benchmarks use are downloaded once, through pip
and its configuration, into .bench/wheels; a Python 3.7 is found through pyenv or
$WH_BENCH_PYTHON37 (the byte-code benchmark is skipped, saying so, where there is none).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".bench" / "wheels"
# the lock the README's install and byte-code figures were taken with
REAL = [
    "numpy==1.21.6",
    "pandas==1.3.5",
    "scipy==1.7.3",
    "scikit-learn==1.0.2",
    "sympy==1.10.1",
    "mpmath==1.2.1",
    "joblib==1.1.0",
    "threadpoolctl==3.1.0",
    "python-dateutil==2.8.2",
    "pytz==2022.1",
    "six==1.16.0",
]


def fetch_real_wheels() -> None:
    if len(list(WHEELS.glob("*.whl"))) >= len(REAL):
        return
    WHEELS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.7.16", "--implementation", "cp", "--abi", "cp37m",
         "--platform", "manylinux2014_x86_64", "-d", str(WHEELS), *REAL],
        check=True,
    )  # fmt: skip


def python37() -> str | None:
    if os.environ.get("WH_BENCH_PYTHON37"):
        return os.environ["WH_BENCH_PYTHON37"]
    if shutil.which("pyenv"):
        out = subprocess.run(
            ["pyenv", "which", "python"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYENV_VERSION": "3.7.16"},
        )
        if out.returncode == 0:
            return out.stdout.strip()
    return shutil.which("python3.7")


def run(title: str, argv: list[str]) -> bool:
    print(f"\n=== {title}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    code = subprocess.run([sys.executable, *argv], cwd=ROOT).returncode
    print(f"=== {title}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one run each, small sizes")
    args = ap.parse_args()
    runs = "1" if args.quick else "3"
    fetch_real_wheels()
    results = {
        "lock": run("lock", ["bench/bench_lock.py", "--runs", runs]),
        "install": run(
            "install",
            ["bench/bench_install.py", "--real-wheels", str(WHEELS), "--runs", runs]
            + (["--generated", "10"] if args.quick else []),
        ),
        "mirror": run(
            "mirror",
            ["bench/bench_mirror.py"]
            + (["--files", "8", "--big-mb", "50", "--seconds", "1"] if args.quick else []),
        ),
        # sync into Azure Blob Storage (Azurite) beside a sync into a folder
        "blob": run(
            "blob",
            ["bench/bench_blob.py", "--runs", "1" if args.quick else "2"]
            + (["--files", "8", "--big-mb", "16"] if args.quick else []),
        ),
        # serve's requests/s: 1 and the default workers, a folder and blob storage, nginx
        "serve": run(
            "serve", ["bench/bench_serve.py"] + (["--seconds", "1"] if args.quick else [])
        ),
        "bounds": run("bounds", ["bench/bench_bounds.py"]),
        # index pages: plain nginx, the generated nginx configuration, serve (default workers)
        "nginx": run(
            "nginx",
            ["bench/bench_nginx.py"] + (["--seconds", "2", "--rounds", "1"] if args.quick else []),
        ),
        # the image kept: the scenario sets' locks beside uv given the image as constraints
        "keep-image": run("keep-image", ["bench/bench_scenarios.py", "--runs", runs]),
    }
    py37 = python37()
    if py37:
        argv = ["bench/bench_compile.py", "--python", py37, "--real-wheels", str(WHEELS)]
        results["compile"] = run("compile", [*argv, "--runs", "1" if args.quick else "5"])
    else:
        print("\n=== compile: skipped, no Python 3.7 (pyenv 3.7.16 or $WH_BENCH_PYTHON37)")
    failed = [name for name, ok in results.items() if not ok]
    print("\nall benchmarks ran" if not failed else f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

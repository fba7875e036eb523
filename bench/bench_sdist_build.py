"""How long `sync --build-with` takes per sdist, and whether two builds give the same bytes.

    python bench/bench_sdist_build.py --python PYTHON3.7 [--sdist FILE ...] [--runs R]

Builds each sdist R times (default 2) with wheelhouse's builder (a fresh venv of PYTHON with
setuptools 68.0.0 + wheel 0.42.0 from .venv/test-dists, no network) and prints the times and
whether every build's wheel has the same sha256. Without --sdist: a one-module pure-Python
sdist made here, and wrapt 1.12.1 (a C extension) from .demo/wheelhouse when `make demo` ran.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.wheelfactory import make_sdist  # noqa: E402
from wheelhouse.sdists import build_wheel, sdist_epoch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="the target's interpreter (3.7)")
    parser.add_argument("--sdist", type=Path, action="append", default=[])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    deps = sorted((ROOT / ".venv" / "test-dists").glob("*.whl"))
    with tempfile.TemporaryDirectory(prefix="bench-sdist-") as tmp:
        work = Path(tmp)
        sdists = args.sdist or [make_sdist(work, "tinysdist", "1.0", ["beta>=1"])]
        wrapt = ROOT / ".demo" / "wheelhouse" / "files" / "wrapt-1.12.1.tar.gz"
        if not args.sdist and wrapt.is_file():
            sdists.append(wrapt)
        for sdist in sdists:
            times, digests = [], set()
            for i in range(args.runs):
                out = work / f"{sdist.name}-{i}"
                built = build_wheel(sdist, args.python, "3.7", deps, out, sdist_epoch(sdist))
                times.append(built.seconds)
                digests.add(hashlib.sha256(built.wheel.read_bytes()).hexdigest())
            shown = " ".join(f"{t:.2f}s" for t in times)
            same = "identical" if len(digests) == 1 else f"{len(digests)} different"
            net = "no network" if built.isolated_network else "network reachable"
            print(f"{sdist.name} -> {built.wheel.name}: {shown}; {same} bytes; {net}")


if __name__ == "__main__":
    main()

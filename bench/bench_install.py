"""Install time and MB/s from a local wheelhouse: wheelhouse install vs uv vs pip, one lock.

    python bench/bench_install.py [--real-wheels DIR] [--generated N] [--runs R]

The wheelhouse holds the real wheels found in --real-wheels (e.g. fetched once with
`pip download --only-binary=:all: --python-version 3.7.16 --platform manylinux2014_x86_64
--no-deps numpy==1.21.6 pandas==1.3.5 ...`) plus N generated pure-Python wheels. Every tool
installs the same pins, offline, without dependencies and without byte-code, into a fresh
folder; uv gets a fresh cache each run (cold). Prints a side-by-side table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
from wheelhouse.model.profile import bare_profile
from wheelhouse.model.pylock import render_pylock
from wheelhouse.model.requirements_lock import render_requirements

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def generated_wheel(folder: Path, i: int, modules: int = 40) -> Path:
    """A pure-Python wheel of `modules` modules of a few KB each."""
    name, version = f"genpkg{i:03d}", "1.0"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/mod{m:02d}.py": (f"# module {m} of {name}\n" + "X = 1\n" * (200 + 37 * m)).encode()
        for m in range(modules)
    }
    files[f"{name}/__init__.py"] = b"\n"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    rows = []
    for rel, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{rel},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*rows, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(files):
            zf.writestr(zipfile.ZipInfo(rel, (2020, 1, 1, 0, 0, 0)), files[rel])
    return path


def make_lock(wheels: list[Path]) -> Lock:
    target = LockTarget.from_profile(bare_profile("3.7.16", "manylinux_2_27_x86_64"))
    pins = []
    for path in wheels:
        name, version, _, _ = parse_wheel_filename(path.name)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        locked = LockedFile(filename=path.name, hashes={"sha256": digest})
        pins.append(Pin(name=canonicalize_name(name), version=str(version), files=(locked,)))
    return Lock(target=target, pins=tuple(pins), input_digest="bench")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    return elapsed


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real-wheels", type=Path, default=Path("/tmp/wh-bench-cache"))
    parser.add_argument("--generated", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="wheelhouse-bench-"))
    house = work / "wheelhouse"
    files = house / "files"
    shutil.rmtree(house, ignore_errors=True)
    files.mkdir(parents=True)
    real = sorted(args.real_wheels.glob("*.whl")) if args.real_wheels.is_dir() else []
    for w in real:
        shutil.copyfile(w, files / w.name)
    for i in range(args.generated):
        generated_wheel(files, i)
    wheels = sorted(files.glob("*.whl"))
    lock = make_lock(wheels)
    pylock = work / "pylock.toml"
    pylock.write_text(render_pylock(lock))
    reqs = work / "requirements.lock"
    reqs.write_text(render_requirements(lock))
    total = sum(w.stat().st_size for w in wheels)

    tools = {
        "wheelhouse install": lambda out, _: [
            str(BIN / "wheelhouse"), "-q", "install", str(pylock),
            "--wheelhouse", str(house), "--target", str(out),
        ],
        "uv pip install --target (cold cache)": lambda out, cache: [
            str(BIN / "uv"), "pip", "install", "--quiet", "--target", str(out),
            "--no-index", "--find-links", str(files), "--no-deps", "--require-hashes",
            "--python-version", "3.7", "--python-platform", "x86_64-manylinux2014",
            "--cache-dir", str(cache), "-r", str(reqs),
        ],
        "pip install --target": lambda out, _: [
            str(BIN / "python"), "-m", "pip", "install", "--quiet", "--target", str(out),
            "--no-index", "--find-links", str(files), "--no-deps", "--no-compile",
            "--require-hashes", "--only-binary=:all:", "--python-version", "3.7.16",
            "--implementation", "cp", "--abi", "cp37m",
            "--platform", "manylinux2014_x86_64", "--disable-pip-version-check",
            "-r", str(reqs),
        ],
    }  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    results: dict[str, list[float]] = {}
    installed: dict[str, int] = {}
    for run in range(args.runs):
        for name, make in tools.items():
            out = work / f"out-{run}-{len(results.get(name, []))}-{abs(hash(name))}"
            cache = work / f"uv-cache-{run}-{abs(hash(name))}"
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
            subprocess.run(["sync"], check=False)
            results.setdefault(name, []).append(timed(make(out, cache), env))
            installed[name] = count_files(out)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)

    print(
        f"\n{len(wheels)} wheels ({len(real)} real, {args.generated} generated), "
        f"{total / 1e6:.1f} MB; {args.runs} runs each, fresh target (and uv cache) per run; "
        f"{os.cpu_count()} CPUs\n"
    )
    header = f"{'tool':38} {'median s':>9} {'best s':>8} {'MB/s':>7} {'files':>7} {'vs pip':>7}"
    print(header)
    print("-" * len(header))
    pip_median = statistics.median(results["pip install --target"])
    for name, times in results.items():
        med = statistics.median(times)
        print(
            f"{name:38} {med:9.2f} {min(times):8.2f} {total / 1e6 / med:7.1f} "
            f"{installed[name]:7d} {pip_median / med:6.1f}x"
        )
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

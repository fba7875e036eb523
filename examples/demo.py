"""The main job end to end on the built-in example (what `make demo` runs).

lock -> sync -> install -> pack -> verify -> run the score script under Python 3.7 with the
mounted folder first on the path, as the image would. Everything lands in .demo/.
Packages come from the index pip is configured for (the "upstream" the sync job mirrors).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import find_python37  # noqa: E402
from wheelhouse.cli import COMMAND_MODULES, main  # noqa: E402

SCORE = ROOT / "examples" / "score"
DEMO = ROOT / ".demo"


def step(title: str, argv: list[str]) -> None:
    print(f"\n== {title}: wheelhouse {' '.join(argv)}", flush=True)
    started = time.perf_counter()
    code = main(argv)
    if code != 0:
        sys.exit(f"demo: step '{title}' failed with exit code {code}")
    print(f"   ({time.perf_counter() - started:.1f}s)", flush=True)


def image_stand_in(python37: str, lock_path: Path) -> Path:
    """A Python 3.7 environment holding the image's packages the example relies on."""
    from wheelhouse.resolver.lockfile import load_lock

    venv = DEMO / "image-env"
    provided = sorted(f"{p.name}=={p.version}" for p in load_lock(lock_path).image_provided())
    stamp = venv / "wheelhouse-provided.txt"
    if stamp.exists() and stamp.read_text().split() == provided:
        return venv / "bin" / "python"
    subprocess.run([python37, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            *provided,
        ],
        check=True,
    )
    stamp.write_text("\n".join(provided) + "\n")
    return venv / "bin" / "python"


def main_demo() -> None:
    DEMO.mkdir(exist_ok=True)
    lock = DEMO / "requirements.lock"
    wheels = DEMO / "wheelhouse"
    mount = DEMO / "score" / "myenv"
    step("lock for the image", ["lock", "-r", str(SCORE / "requirements.in"), "-o", str(lock)])
    print(lock.read_text())
    if "sync" not in COMMAND_MODULES or "install" not in COMMAND_MODULES:
        print("demo: sync/install are not available in this build; stopping after lock")
        return
    step("sync the wheelhouse", ["sync", str(lock), "--wheelhouse", str(wheels)])
    step(
        "install the mounted folder",
        ["install", str(lock), "--wheelhouse", str(wheels), "--target", str(mount)],
    )
    if "pack" in COMMAND_MODULES:
        step("pack the artifact", ["pack", str(mount), "-o", str(DEMO / "myenv.tar.gz")])
    python37 = find_python37()
    if "verify" in COMMAND_MODULES:
        step("verify against the image", ["verify", str(mount), "--lock", str(lock)])
    if not python37:
        print("demo: no Python 3.7 found (pyenv install 3.7); skipping the run under 3.7")
        return
    site = mount / "lib" / "python3.7" / "site-packages"
    print("\n== run the score script under Python 3.7 with the mounted folder first on the path")
    python = image_stand_in(python37, lock)
    request = (SCORE / "sample-request.json").read_text()
    code = "import sys, json, score; score.init(); print(json.dumps(score.run(sys.stdin.read())))"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(SCORE)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [str(python), "-c", code], input=request, text=True, capture_output=True, env=env
    )
    if proc.returncode != 0:
        sys.exit(f"demo: the score script failed under Python 3.7:\n{proc.stderr}")
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"model answer (Python 3.7, {site.relative_to(ROOT)} mounted):")
    print(json.dumps(answer, indent=2))


if __name__ == "__main__":
    main_demo()

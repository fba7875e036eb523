"""The main job end to end on the built-in example (what `make demo` runs).

lock -> sync -> install -> pack -> verify -> run, for the built-in image profile (CPython 3.7
sklearn inference image). The image itself cannot be started here (no Docker engine), so its
stand-in is built from the same wheelhouse (`image-env`) and the score script is started as
the image would start it, with the mounted folder first on the path. Everything lands in
.demo/; files come from the index pip is configured for (the sync job's upstream).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wheelhouse.cli import main  # noqa: E402
from wheelhouse.errors import UsageError  # noqa: E402
from wheelhouse.interpreters import find_python  # noqa: E402

SCORE = ROOT / "examples" / "score"
DEMO = ROOT / ".demo"
LIB_PATH = "myenv/lib/python3.7/site-packages"


def step(title: str, *argv: str) -> None:
    print(f"\n== {title}\n$ wheelhouse {' '.join(argv)}", flush=True)
    started = time.perf_counter()
    code = main(list(argv))
    if code != 0:
        sys.exit(f"demo: step '{title}' failed with exit code {code}")
    print(f"   ({time.perf_counter() - started:.1f}s)", flush=True)


def demo() -> None:
    started = time.perf_counter()
    DEMO.mkdir(exist_ok=True)
    lock, image_lock = DEMO / "requirements.lock", DEMO / "image.lock"
    wheels, app = DEMO / "wheelhouse", DEMO / "app"
    mount = app / "myenv"
    # the score folder as it is deployed: the script, its sample request, the mounted folder
    app.mkdir(exist_ok=True)
    for name in ("score.py", "sample-request.json", "requirements.in"):
        shutil.copy2(SCORE / name, app / name)

    step(
        "lock the example's requirements for the image",
        "lock",
        "-r",
        str(SCORE / "requirements.in"),
        "-o",
        str(lock),
    )
    print(lock.read_text())
    step(
        "lock the image's own packages (to build its offline stand-in)",
        "lock",
        "--image-packages",
        "-o",
        str(image_lock),
    )
    try:
        python37: str | None = find_python("3.7")  # as image-env finds it below
    except UsageError:
        python37 = None
    step(
        "sync both locks into the wheelhouse (the image's sdist-only packages built by 3.7)",
        "sync",
        str(lock),
        str(image_lock),
        "--wheelhouse",
        str(wheels),
        *(["--build-with", "3.7"] if python37 else []),
    )
    step(
        "install the mounted folder",
        "install",
        str(lock),
        "--wheelhouse",
        str(wheels),
        "--target",
        str(mount),
    )
    step("pack it", "pack", str(mount), "-o", str(DEMO / "myenv.tar.gz"))
    if python37 is None:
        step("verify against the image", "verify", str(mount), "--lock", str(lock))
        print("\ndemo: no Python 3.7 here (pyenv install 3.7.16): stopping before the run")
        summary(started)
        return
    env = DEMO / "image-env"
    step(
        "build the image's stand-in from the wheelhouse (Python 3.7, offline)",
        "image-env",
        str(env),
        "--python",
        "3.7",
        "--wheelhouse",
        str(wheels),
    )
    step(
        "verify the artifact against the lock and the image, importing under Python 3.7",
        "verify",
        str(DEMO / "myenv.tar.gz"),
        "--lock",
        str(lock),
        "--python",
        str(env / "bin" / "python"),
        "--wheelhouse",
        str(wheels),
    )
    step(
        "start the score script as the image would, with the folder mounted",
        "run",
        str(app),
        "--python",
        str(env / "bin" / "python"),
        "--env",
        f"AZUREML_EXTRA_PYTHON_LIB_PATH={LIB_PATH}",
    )
    dynamic_install(app, lock, wheels, env / "bin" / "python")
    summary(started)


def dynamic_install(app: Path, lock: Path, wheels: Path, python: Path) -> None:
    """The other way in: the lock as AZUREML_EXTRA_REQUIREMENTS_TXT, pip at start installing
    it (hashes required) from the mirror served by `wheelhouse serve`, no other index."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wheelhouse",
            "serve",
            "--wheelhouse",
            str(wheels),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        shutil.copy2(lock, app / "requirements.txt")
        step(
            "start it again, installing the lock at start from the served mirror instead",
            "run",
            str(app),
            "--python",
            str(python),
            "--index-url",
            f"{url}/simple",
            "--env",
            "AZUREML_EXTRA_REQUIREMENTS_TXT=requirements.txt",
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


def size(path: Path) -> int:
    """Bytes under `path` (a file or a folder)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def summary(started: float) -> None:
    """What the demo made and where, with the disk each takes."""
    lock = DEMO / "requirements.lock"
    pins = sum(1 for line in lock.read_text().splitlines() if "==" in line and " \\" in line)
    made = [
        (lock, f"the lock: {pins} packages to add to the image, hashes for the target"),
        (DEMO / "pylock.toml", "the same pins as PEP 751, with URLs and the full target"),
        (DEMO / "image.lock", "the image's own packages (to build its stand-in)"),
        (DEMO / "wheelhouse", "the mirror: files/ and the static simple/ index (serve it)"),
        (DEMO / "app" / "myenv", "the mounted folder: AZUREML_EXTRA_PYTHON_LIB_PATH"),
        (DEMO / "myenv.tar.gz", "the same folder packed, reproducibly, to ship"),
        (DEMO / "image-env", "the image's stand-in (a Python 3.7 environment)"),
    ]
    print(f"\n== done in {time.perf_counter() - started:.0f}s; made under {DEMO}:")
    for path, what in made:
        if path.exists():
            shown = path.relative_to(ROOT)
            print(f"  {shown!s:<24} {size(path) / 1e6:>7.1f} MB  {what}")
    print(f"  {'total':<24} {size(DEMO) / 1e6:>7.1f} MB  (make clean removes it)")


if __name__ == "__main__":
    demo()

"""Peak memory under the two attacks of issue 9 that were about memory, measured as the
attacked process's own peak RSS (VmHWM, Linux):

- install of a 1 MB wheel whose one member inflates to 1 GiB (RECORD agreeing);
- `serve` receiving eight request heads of 64 MB each at once.

    .venv/bin/python bench/bench_bounds.py                  # this checkout
    .venv/bin/python bench/bench_bounds.py --code /tmp/old  # another one (e.g. git archive)

`--code` runs the attacked process with that folder's `wheelhouse` package first on
sys.path, so an older version can be measured beside this one in the same session.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INSTALL = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[4])
    from pathlib import Path
    from wheelhouse.artifact.install import InstallOptions, install_lock
    from wheelhouse.model.lockfiles import load_lock
    started = time.monotonic()
    lock = load_lock(Path(sys.argv[1]))
    install_lock(lock, Path(sys.argv[2]), Path(sys.argv[3]), InstallOptions(jobs=1))
    peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
    print(f"{peak} MB peak RSS, {time.monotonic() - started:.1f} s")
    """
)
SERVE = "import sys; sys.path.insert(0, sys.argv.pop(1)); from wheelhouse.cli import entry; entry()"


def big_member(work: Path, code: str) -> str:
    from tests.artifact.test_hostile_wheels import big_wheel
    from tests.helpers import House, lock_of

    wheel = big_wheel(work / "build", 1 << 30)
    house = House(work / "wh")
    house.add(wheel)
    lock = house.write_lock(lock_of([house.files / wheel.name]))
    args = [str(lock), str(house.root), str(work / "out"), code]
    run = subprocess.run([sys.executable, "-c", INSTALL, *args], capture_output=True, text=True)
    size = wheel.stat().st_size / 1e6
    return f"install, {size:.2f} MB wheel, 1 GiB member: " + (
        run.stdout.strip() or run.stderr.strip().splitlines()[-1]
    )


def serve_heads(work: Path, code: str) -> str:
    from tests.helpers import build_wheels
    from wheelhouse.mirror.catalog import load_catalog
    from wheelhouse.mirror.static_index import write_index
    from wheelhouse.store.layout import Wheelhouse

    house = Wheelhouse(work / "served")
    house.create()
    for wheel in build_wheels(work / "w", 1):
        shutil.copy(wheel, house.files)
    write_index(house, load_catalog(house))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["serve", "--wheelhouse", str(house.root), "--port", str(port), "--token", "t"]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, code, *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        before = _peak(proc.pid)
        threads = [threading.Thread(target=_send_head, args=(port,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = _peak(proc.pid)
        return f"serve, eight 64 MB request heads: peak RSS {before} MB before, {after} MB after"
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("serve did not start")


def _peak(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) // 1024


def _send_head(port: int) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
            c.sendall(b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Big: ")
            block = b"a" * (1 << 20)
            for _ in range(64):
                c.sendall(block)
            c.sendall(b"\r\n\r\n")
            c.recv(100)
    except OSError:
        pass  # refused and closed early: what a bounded server does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", default=str(ROOT), help="a checkout whose wheelhouse to attack")
    args = parser.parse_args()
    if not Path("/proc/self/status").is_file():
        raise SystemExit("peak RSS is read from /proc: Linux only")
    code = str(Path(args.code).resolve())
    print(f"wheelhouse from {code}")
    with tempfile.TemporaryDirectory(prefix="wh-bounds-") as tmp:
        print(big_member(Path(tmp) / "install", code))
        print(serve_heads(Path(tmp) / "serve", code))


if __name__ == "__main__":
    main()

"""`wheelhouse install LOCK --wheelhouse DIR --target OUT`: the lock into a mountable folder."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import positive_int

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "install",
        help="install a lock's wheels from a wheelhouse into a folder (offline)",
        description="Install the lock's to-install wheels from the wheelhouse into "
        "OUT/lib/pythonX.Y/site-packages (scripts in OUT/bin), all or nothing. "
        "Installing again brings OUT to exactly the lock.",
    )
    p.add_argument("lock", type=Path, help="requirements.lock or pylock.toml")
    p.add_argument("--wheelhouse", type=Path, required=True, help="folder holding files/")
    p.add_argument("--target", type=Path, required=True, help="the folder to (re)make")
    p.add_argument(
        "--compile-with",
        metavar="PYTHON",
        help="write byte-code with this interpreter (must be the target's X.Y)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="wheels installed at once (default: one per CPU, at most 16)",
    )
    p.add_argument(
        "--interpreter",
        help="shebang of generated scripts (default: /usr/bin/env pythonX.Y of the target)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.install import InstallOptions, install_lock
    from wheelhouse.model.lockfiles import load_lock

    lock = load_lock(args.lock)
    started = time.perf_counter()
    options = InstallOptions(
        jobs=args.jobs or 0, interpreter=args.interpreter, compile_with=args.compile_with
    )
    result = install_lock(lock, args.wheelhouse, args.target, options)
    elapsed = time.perf_counter() - started
    for removed in result.removed:
        log.info("removed %s (no longer in the lock)", removed)
    mb = result.wheel_bytes / 1e6
    print(
        f"installed {len(result.wheels)} distributions ({mb:.1f} MB of wheels, "
        f"{len(result.manifest.files)} files) into {result.layout.site_packages} "
        f"in {elapsed:.2f}s"
        + (f", byte-code by Python {result.manifest.compiled_with}" if args.compile_with else "")
    )
    return 0

"""`wheelhouse install LOCK --wheelhouse DIR --target OUT`: the lock into a mountable folder."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wheelhouse.cli._common import positive_int, wheelhouse_location
from wheelhouse.cli._progress import step_progress

if TYPE_CHECKING:
    from wheelhouse.artifact.install import InstallResult

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
    p.add_argument(
        "--wheelhouse",
        type=wheelhouse_location,
        required=True,
        help="folder holding files/, or az://CONTAINER/PREFIX",
    )
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
    p.add_argument("--json", action="store_true", help="print what was installed as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.install import InstallOptions, install_lock
    from wheelhouse.model.lockfiles import load_lock

    lock = load_lock(args.lock)
    started = time.perf_counter()
    options = InstallOptions(
        jobs=args.jobs or 0, interpreter=args.interpreter, compile_with=args.compile_with
    )
    result = install_lock(lock, args.wheelhouse, args.target, options, step_progress())
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(_result_dict(result, elapsed), indent=2))
    for removed in result.removed:
        log.info("removed %s (no longer in the lock)", removed)
    for shared in result.shared_scripts:
        log.info(
            "script %s is declared by %s too; %s's is installed (the later in the lock, as pip "
            "does)",
            shared.name,
            ", ".join(shared.losers),
            shared.winner,
        )
    log.info(
        "installed %d distributions (%.1f MB of wheels, %d files) into %s in %.2fs%s",
        len(result.wheels),
        result.wheel_bytes / 1e6,
        len(result.manifest.files),
        result.layout.site_packages,
        elapsed,
        f", byte-code by Python {result.manifest.compiled_with}" if args.compile_with else "",
    )
    return 0


def _result_dict(result: InstallResult, seconds: float) -> dict[str, Any]:
    return {
        "target": str(result.target),
        "site_packages": str(result.layout.site_packages),
        "distributions": [
            {"name": w.name, "version": w.version, "wheel": w.path.name} for w in result.wheels
        ],
        "removed": list(result.removed),
        "files": len(result.manifest.files),
        "wheel_bytes": result.wheel_bytes,
        "compiled_with": result.manifest.compiled_with or None,
        "seconds": round(seconds, 3),
    }

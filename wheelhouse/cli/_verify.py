"""`wheelhouse verify OUT|ARTIFACT --lock LOCK`: prove the artifact fits the lock and image."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import wheelhouse_location
from wheelhouse.cli._progress import step_progress

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "verify",
        help="check an installed folder or artifact against its lock and the image",
        description="Check every file against RECORD and the manifest, every distribution "
        "against the lock and the target's tags, and every Requires-Dist of the image plus "
        "the artifact for the target's markers. With --python, import every top-level "
        "module under that interpreter. Exits non-zero when anything fails.",
    )
    p.add_argument("artifact", type=Path, help="a folder made by install, or a packed .tar.gz")
    p.add_argument("--lock", type=Path, required=True, help="requirements.lock or pylock.toml")
    p.add_argument(
        "--image",
        help="the image's profile (JSON path or built-in name; default: "
        "the built-in profile the lock was made for, when it is one)",
    )
    p.add_argument(
        "--python",
        help="the target's interpreter (a path, or a version such as 3.7): imports every module "
        "of the artifact and of the image packages that depend on what it shadows; the image "
        "stand-in's (wheelhouse image-env) has the image's packages",
    )
    p.add_argument(
        "--wheelhouse",
        type=wheelhouse_location,
        metavar="DIR|az://C/P",
        help="also compare every installed file with the locked wheel in DIR "
        "(catches a tamper that rewrote RECORD and the manifest too)",
    )
    p.add_argument(
        "--ignore-active-extras",
        action="store_true",
        help="do not check the requirements of extras that what is present activates",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON (for CI)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.report import render_text
    from wheelhouse.artifact.verify import verify
    from wheelhouse.model.lockfiles import load_lock
    from wheelhouse.model.profile import builtin_profile_matching, load_profile

    lock = load_lock(args.lock)
    image = (
        load_profile(args.image)
        if args.image
        else builtin_profile_matching(lock.target.profile_name, lock.target.profile_digest)
    )
    report = verify(
        args.artifact,
        lock,
        image,
        args.python,
        args.wheelhouse,
        step_progress(),
        active_extras=not args.ignore_active_extras,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not report.ok or log.getEffectiveLevel() <= logging.INFO:  # -q: failures only
        print(render_text(report), end="")
    return 0 if report.ok else 1

"""`wheelhouse audit LOCK`: the lock's packages and the image's against OSV advisories."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="check the locked packages and the image's against OSV advisories, offline",
        description="Check every package the lock installs and every package of the image "
        "against the OSV advisory database for PyPI, read from an export zip or from the copy "
        "`sync --advisories` keeps in a wheelhouse (no network). Exit 1 when an advisory "
        "that is not ignored affects one of them.",
    )
    p.add_argument("lock", type=Path, help="requirements.lock or pylock.toml")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheelhouse", type=Path, metavar="DIR", help="the copy kept in DIR")
    src.add_argument(
        "--advisories", type=Path, metavar="FILE", help="an OSV export zip (PyPI's all.zip)"
    )
    p.add_argument(
        "--image",
        metavar="PROFILE",
        help="the image's profile (default: the built-in profile the lock was made for, "
        "else the image packages the lock names)",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID=REASON",
        help="report this advisory (id or alias) as ignored, for the reason given (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.audit import (
        audit,
        audited_packages,
        load_advisories,
        parse_ignores,
        render_audit,
    )
    from wheelhouse.model.lockfiles import load_lock
    from wheelhouse.model.profile import builtin_profile_matching, load_profile

    ignores = parse_ignores(args.ignore)
    lock = load_lock(args.lock)
    image = (
        load_profile(args.image)
        if args.image
        else builtin_profile_matching(lock.target.profile_name, lock.target.profile_digest)
    )
    db, age = load_advisories(args.advisories, args.wheelhouse)
    report = audit(audited_packages(lock, image), db, age, ignores)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not report.ok or log.getEffectiveLevel() <= logging.INFO:  # -q: findings only
        print(render_audit(report), end="")
    return 0 if report.ok else 1

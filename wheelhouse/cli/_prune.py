"""`wheelhouse prune --wheelhouse DIR --keep LOCK...`: drop files no kept lock needs."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import human_bytes, wheelhouse_location

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "prune",
        help="remove wheelhouse files that no kept lock references",
        description="Remove the files of DIR/files/ that none of the kept locks pin, then "
        "regenerate the index. --dry-run lists them on stdout instead.",
    )
    p.add_argument("--wheelhouse", required=True, type=wheelhouse_location, metavar="DIR|az://C/P")
    p.add_argument("--keep", required=True, nargs="+", type=Path, metavar="LOCK")
    p.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.mirror.prune import prune

    report = prune(args.wheelhouse, args.keep, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return 0
    verb = "would remove" if report.dry_run else "removed"
    for name in report.removed:
        if report.dry_run:  # what was asked for: on stdout, also with -q
            print(f"{verb} {name}")
        else:
            log.info("%s %s", verb, name)
    log.info(
        "%s %d file(s) (%s); %d kept",
        verb,
        len(report.removed),
        human_bytes(report.bytes_freed),
        len(report.kept),
    )
    return 0

"""`wheelhouse pack OUT -o ARTIFACT.tar.gz`: an installed folder as a reproducible archive."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import wheelhouse_location as artifact_location

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "pack",
        help="pack an installed folder into a reproducible tar.gz",
        description="Pack a folder made by `wheelhouse install` (checked against its manifest) "
        "into a tar.gz whose bytes depend only on its contents. Entry times are "
        "SOURCE_DATE_EPOCH, else 0.",
    )
    p.add_argument("folder", type=Path, help="the folder made by wheelhouse install")
    p.add_argument(
        "-o",
        "--output",
        type=artifact_location,
        required=True,
        help="ARTIFACT.tar.gz, or az://CONTAINER/[PATH/]NAME.tar.gz to upload it",
    )
    p.add_argument("--json", action="store_true", help="print the artifact's facts as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.pack import pack_tree

    result = pack_tree(args.folder, args.output)
    if args.json:
        facts = {"path": str(result.path), "sha256": result.sha256, "size": result.size}
        print(json.dumps({**facts, "files": result.files}, indent=2))
    log.info(
        "packed %d files into %s (%.1f MB, sha256:%s)",
        result.files,
        result.path,
        result.size / 1e6,
        result.sha256,
    )
    return 0

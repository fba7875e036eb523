"""`wheelhouse pack OUT -o ARTIFACT.tar.gz`: an installed folder as a reproducible archive."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "pack",
        help="pack an installed folder into a reproducible tar.gz",
        description="Pack a folder made by `wheelhouse install` (checked against its manifest) "
        "into a tar.gz whose bytes depend only on its contents. Entry times are "
        "SOURCE_DATE_EPOCH, else 0.",
    )
    p.add_argument("folder", type=Path, help="the folder made by wheelhouse install")
    p.add_argument("-o", "--output", type=Path, required=True, help="ARTIFACT.tar.gz")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.pack import pack_tree

    result = pack_tree(args.folder, args.output)
    print(
        f"packed {result.files} files into {result.path} "
        f"({result.size / 1e6:.1f} MB, sha256:{result.sha256})"
    )
    return 0

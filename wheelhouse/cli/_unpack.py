"""`wheelhouse unpack ARTIFACT DIR`: an artifact unpacked for deployment, checked first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "unpack",
        help="unpack an artifact into a new folder (safe names and modes, checked)",
        description="Unpack a tar.gz made by `wheelhouse pack` into DIR (new, or empty). "
        "Refused whole, with nothing written, if an entry is a link or escapes DIR, if a "
        "mode is anything but 0644/0755 for files and 0755 for folders (as root, tar would "
        "create setuid or world-writable files as they are), or if the tree does not match "
        "its manifest. Modes are set exactly, whatever the umask; owners are never taken "
        "from the archive.",
    )
    p.add_argument("artifact", type=Path, help="the .tar.gz made by wheelhouse pack")
    p.add_argument("folder", type=Path, help="where to unpack it (new or empty)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.pack import unpack_tree

    result = unpack_tree(args.artifact, args.folder)
    print(f"unpacked {result.files} files into {result.path}")
    return 0

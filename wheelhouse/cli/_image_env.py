"""wheelhouse image-env: an offline stand-in for the image, built from the wheelhouse."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import add_target_options, target_profile, wheelhouse_location
from wheelhouse.cli._progress import step_progress

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "image-env",
        help="build a virtual environment standing in for the image",
        description="Create a virtual environment of the target's interpreter holding the "
        "image profile's installed set, from the wheelhouse only (no network); "
        "sdist-only packages are built by that interpreter.",
    )
    p.add_argument("out", type=Path, help="where to create the environment")
    p.add_argument(
        "--python",
        help="the target's interpreter: a path, or a version such as 3.7 (found as "
        "python3.7 on PATH or in pyenv's versions); default: the target's X.Y, found so",
    )
    p.add_argument(
        "--wheelhouse",
        type=wheelhouse_location,
        metavar="DIR|az://C/P",
        help="where the image's packages are (not needed for a bare target)",
    )
    add_target_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.image.imageenv import build_image_env

    profile = target_profile(args)
    python = args.python or profile.python_minor
    env = build_image_env(profile, python, args.wheelhouse, args.out, step_progress())
    state = "up to date" if env.reused else f"built with {env.packages} packages"
    log.info(
        "%s: stand-in for %s, %s; interpreter %s", env.path, env.profile_name, state, env.python
    )
    return 0

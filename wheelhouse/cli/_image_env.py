"""wheelhouse image-env: an offline stand-in for the image, built from the wheelhouse."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "image-env",
        help="build a virtual environment standing in for the image",
        description="Create a virtual environment of the target's interpreter holding the "
        "image profile's installed set, from the wheelhouse only (no network); "
        "sdist-only packages are built by that interpreter.",
    )
    p.add_argument("out", type=Path, help="where to create the environment")
    p.add_argument("--image", metavar="PROFILE", help="profile JSON or built-in name")
    p.add_argument("--python", required=True, help="the target's interpreter (e.g. 3.7)")
    p.add_argument("--wheelhouse", type=Path, required=True, metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.image.imageenv import build_image_env
    from wheelhouse.model.profile import load_profile

    env = build_image_env(load_profile(args.image), args.python, args.wheelhouse, args.out)
    state = "up to date" if env.reused else f"built with {env.packages} packages"
    print(f"{env.path}: stand-in for {env.profile_name}, {state}; interpreter {env.python}")
    return 0

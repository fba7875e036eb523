"""wheelhouse snapshot: write a target profile from an interpreter, an image or a list."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import add_index_options, cache_dir, index_config
from wheelhouse.errors import UsageError

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "snapshot",
        help="write a target profile (Python, tags, markers, installed packages)",
        description="Describe a target exactly: run a stdlib-only script under its "
        "interpreter (directly or in its Docker image), read a package list, or "
        "resolve the image's documented packages as a stand-in.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--python", metavar="PATH", help="the target's interpreter")
    src.add_argument("--docker", metavar="IMAGE", help="a Docker image (docker run --rm)")
    src.add_argument(
        "--freeze",
        type=Path,
        metavar="FILE",
        help="`pip freeze` or `pip list --format=json` output",
    )
    src.add_argument(
        "--resolve",
        type=Path,
        action="append",
        metavar="FILE",
        help="resolve this requirements file for the target: a stand-in image",
    )
    p.add_argument("--docker-python", default="python", help="interpreter inside the image")
    p.add_argument(
        "--python-version",
        default="3.7",
        help="with --freeze/--resolve, or alone for a bare target",
    )
    p.add_argument(
        "--platform",
        default="manylinux2014_x86_64",
        help="with --freeze/--resolve, or alone for a bare target",
    )
    p.add_argument("--exclude-newer", metavar="DATE", help="with --resolve")
    p.add_argument("--name", help="profile name (default from the source)")
    p.add_argument("--description", default="", help="free text kept in the profile")
    p.add_argument("-o", "--output", type=Path, help="profile JSON to write (default stdout)")
    add_index_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.files import atomic_write
    from wheelhouse.net.cache import Cache
    from wheelhouse.resolver import snapshot

    if args.python:
        profile = snapshot.snapshot_python(args.python, args.name)
    elif args.docker:
        profile = snapshot.snapshot_docker(args.docker, args.docker_python, args.name)
    elif not (args.freeze or args.resolve):
        from wheelhouse.model.profile import bare_profile

        profile = bare_profile(args.python_version, args.platform)
        if args.name:
            profile = replace(profile, name=args.name)
    elif args.freeze:
        profile = snapshot.snapshot_freeze(
            args.freeze, args.python_version, args.platform, args.name
        )
    else:
        if not args.name:
            raise UsageError("--resolve needs --name for the profile")
        cdir = cache_dir(args)
        profile = snapshot.snapshot_resolved(
            args.resolve,
            args.python_version,
            args.platform,
            index_config(args),
            exclude_newer=args.exclude_newer,
            name=args.name,
            description=args.description,
            cache=Cache(cdir) if cdir else None,
        )
    if args.description and not args.resolve:
        profile = replace(profile, description=args.description)
    text = profile.to_json()
    if args.output:
        atomic_write(args.output, text)
        log.info(
            "%s: profile %s, Python %s, %d installed distributions, best tag %s",
            args.output,
            profile.name,
            profile.python_version,
            len(profile.installed),
            profile.tags[0],
        )
    else:
        print(text, end="")
    return 0

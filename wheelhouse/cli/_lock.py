"""wheelhouse lock: resolve for the target image and write requirements.lock + pylock.toml."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import (
    add_index_options,
    add_target_options,
    cache_dir,
    index_config,
    target_profile,
)
from wheelhouse.errors import UsageError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "lock",
        help="resolve requirements for the target image",
        description="Resolve requirements for the target (not this machine) against the "
        "packages the image already has; write a hashed lock.",
    )
    p.add_argument("requirements", nargs="*", help="requirement strings, e.g. 'pandas==1.3.5'")
    p.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="requirements file (repeatable)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("requirements.lock"),
        help="the requirements lock to write (default: requirements.lock)",
    )
    p.add_argument(
        "--pylock", type=Path, help="where to write the PEP 751 lock (default: beside --output)"
    )
    p.add_argument(
        "--exclude-newer",
        metavar="DATE",
        help="ignore files uploaded after DATE (YYYY-MM-DD counts the whole day)",
    )
    p.add_argument("--offline", action="store_true", help="use cached index pages only")
    p.add_argument(
        "--image-packages",
        action="store_true",
        help="lock exactly the image profile's installed set (to mirror it and "
        "build a stand-in of the image with image-env)",
    )
    p.add_argument(
        "--allow-sdist",
        nargs="?",
        action="append",
        const=":all:",
        default=[],
        metavar="NAME",
        help="let NAME (repeatable; every project when given alone, e.g. last or as "
        "--allow-sdist=:all:) be locked as an sdist, to be built for the target by "
        "sync --build-with, where no wheel of any acceptable version fits the target",
    )
    p.add_argument(
        "--build-with",
        metavar="PYTHON",
        help="the target's interpreter (or docker:IMAGE): builds each allowed sdist, for "
        "its metadata where PKG-INFO and pyproject.toml do not state it statically (PEP 643) "
        "and for the wheel's hash",
    )
    add_target_options(p)
    add_index_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.resolver.locker import LockRequest, lock

    profile = target_profile(args)
    if args.image_packages:
        from wheelhouse.resolver.locker import lock_image

        if args.requirements or args.requirement:
            raise UsageError("--image-packages takes no requirements: it locks the image's own")
        if args.allow_sdist or args.build_with:
            raise UsageError("--image-packages locks the image's own files: no --allow-sdist")
        if args.exclude_newer or args.offline:
            raise UsageError(
                "--image-packages pins the image's exact versions: "
                "--exclude-newer and --offline do not apply"
            )
        result = lock_image(profile, index_config(args), args.output, args.pylock, cache_dir(args))
        sdists = [p.name for p in result.pins if p.files and not p.files[0].is_wheel]
        print(
            f"{args.output}: the {len(result.pins)} packages of image {profile.name}"
            + (f" ({len(sdists)} as sdist: {', '.join(sdists)})" if sdists else "")
        )
        return 0
    outcome = lock(
        LockRequest(
            requirement_files=args.requirement,
            requirements=args.requirements,
            output=args.output,
            pylock=args.pylock,
            exclude_newer=args.exclude_newer,
            cache_dir=cache_dir(args),
            offline=args.offline,
            allow_sdist=tuple(args.allow_sdist),
            build_with=args.build_with,
        ),
        profile,
        index_config(args),
    )
    if not outcome.changed:
        print(f"{outcome.output}: up to date (inputs unchanged)")
        return 0
    assert outcome.lock is not None
    added = outcome.lock.to_install()
    overrides = outcome.lock.overrides()
    print(
        f"{outcome.output}: {len(added)} to install"
        + (f" ({len(overrides)} overriding the image)" if overrides else "")
        + f", {len(outcome.lock.image_provided())} provided by the image "
        f"[{profile.name}, Python {profile.python_version}] in {outcome.seconds:.2f}s"
    )
    for pin in overrides:
        print(f"  override: {pin.name} {pin.version} replaces the image's {pin.image_version}")
    for pin in (p for p in added if p.from_sdist):
        print(
            f"  built from sdist: {pin.name} {pin.version} "
            f"(build requirements: {', '.join(pin.build_requires) or 'none'})"
        )
    print(f"{outcome.pylock}: written")
    return 0

"""wheelhouse lock: resolve for the target image and write requirements.lock + pylock.toml."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wheelhouse.cli._common import (
    add_index_options,
    add_target_options,
    cache_dir,
    index_config,
    target_profile,
)
from wheelhouse.cli._progress import step_progress
from wheelhouse.errors import UsageError

if TYPE_CHECKING:
    from wheelhouse.model.profile import Profile
    from wheelhouse.resolver.locker import LockOutcome

log = logging.getLogger("wheelhouse")


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
    p.add_argument(
        "--offline", action="store_true", help="use cached index pages only (no network)"
    )
    p.add_argument(
        "--no-overrides",
        action="store_true",
        help="never replace an image package: any override is an error naming the "
        "requirements that force it",
    )
    p.add_argument(
        "--ignore-active-extras",
        action="store_true",
        help="do not honour the extras a package activates because what they name is "
        "present (image + lock)",
    )
    p.add_argument(
        "--image-packages",
        action="store_true",
        help="lock exactly the image profile's installed set (to mirror it and "
        "build a stand-in of the image with image-env)",
    )
    g = p.add_argument_group(
        "keeping and moving pins (the existing lock's versions are kept where still allowed)"
    )
    g.add_argument(
        "-U", "--upgrade", action="store_true", help="keep no pin: take the newest that fits"
    )
    g.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME[SPEC]",
        help="let this package move (to SPEC if given, e.g. 'attrs<23'); the others keep "
        "their pins (repeatable)",
    )
    g.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with what would change if the lock is not up to date "
        "with its inputs (for CI)",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON on stdout")
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
        return _image_packages(args, profile)
    outcome = lock(
        LockRequest(
            requirement_files=args.requirement,
            requirements=args.requirements,
            output=args.output,
            pylock=args.pylock,
            exclude_newer=args.exclude_newer,
            cache_dir=cache_dir(args),
            offline=args.offline,
            no_overrides=args.no_overrides,
            ignore_active_extras=args.ignore_active_extras,
            upgrade=args.upgrade,
            upgrade_packages=args.upgrade_package,
            check=args.check,
            allow_sdist=tuple(args.allow_sdist),
            build_with=args.build_with,
        ),
        profile,
        index_config(args),
        progress=step_progress(),
    )
    if args.json:
        print(json.dumps(outcome_dict(outcome, args.check), indent=2))
    elif args.check:
        _report_check(outcome)
    else:
        _report_lock(outcome, profile)
    return 1 if args.check and outcome.changed else 0


def _image_packages(args: argparse.Namespace, profile: Profile) -> int:
    from wheelhouse.resolver.locker import lock_image

    if args.requirements or args.requirement:
        raise UsageError("--image-packages takes no requirements: it locks the image's own")
    if args.exclude_newer or args.offline:
        raise UsageError(
            "--image-packages pins the image's exact versions: "
            "--exclude-newer and --offline do not apply"
        )
    if args.allow_sdist or args.build_with:
        raise UsageError("--image-packages locks the image's own files: no --allow-sdist")
    if args.upgrade or args.upgrade_package or args.check:
        raise UsageError(
            "--image-packages pins the image's exact versions: "
            "--upgrade, --upgrade-package and --check do not apply"
        )
    result = lock_image(profile, index_config(args), args.output, args.pylock, cache_dir(args))
    sdists = [p.name for p in result.pins if p.files and not p.files[0].is_wheel]
    if args.json:
        print(json.dumps({"output": str(args.output), "packages": len(result.pins)}, indent=2))
    log.info(
        "%s: the %d packages of image %s%s",
        args.output,
        len(result.pins),
        profile.name,
        f" ({len(sdists)} as sdist: {', '.join(sdists)})" if sdists else "",
    )
    return 0


def _report_check(outcome: LockOutcome) -> None:
    if not outcome.changed:
        log.info("%s: up to date", outcome.output)
        return
    if outcome.lock is None:  # nothing to compare with
        log.error("%s is not up to date: %s", outcome.output, outcome.reason)
        return
    lines = outcome.diff.lines() if outcome.diff is not None else []
    if not lines:
        lines = [outcome.reason or "the files would be rewritten"]
    log.error(
        "%s would change (run wheelhouse lock with the same arguments to update it):\n  %s",
        outcome.output,
        "\n  ".join(lines),
    )


def _report_lock(outcome: LockOutcome, profile: Profile) -> None:
    if outcome.lock is None:
        log.info("%s: up to date (inputs unchanged)", outcome.output)
        return
    if not outcome.changed:
        log.info("%s: up to date (no pin would move)", outcome.output)
        return
    result = outcome.lock
    overrides = result.overrides()
    log.info(
        "%s: %d to install%s, %d provided by the image [%s, Python %s] in %.2fs",
        outcome.output,
        len(result.to_install()),
        f" ({len(overrides)} overriding the image)" if overrides else "",
        len(result.image_provided()),
        profile.name,
        profile.python_version,
        outcome.seconds,
    )
    for pin in overrides:
        log.info(
            "  override: %s %s replaces the image's %s", pin.name, pin.version, pin.image_version
        )
        if pin.override_chain:
            log.info("    forced by: %s", pin.override_chain)
    for active in result.active_extras:
        log.info("  active extra %s", active.shown)
    for pin in (p for p in result.to_install() if p.from_sdist):
        log.info(
            "  built from sdist: %s %s (build requirements: %s)",
            pin.name,
            pin.version,
            ", ".join(pin.build_requires) or "none",
        )
    for line in outcome.diff.lines() if outcome.diff is not None else []:
        log.info("  %s", line)
    log.info("%s: written", outcome.pylock)


def outcome_dict(outcome: LockOutcome, check: bool) -> dict[str, Any]:
    """The outcome for machines: what was (or would be) written and what moved."""
    return {
        "output": str(outcome.output),
        "pylock": str(outcome.pylock),
        "check": check,
        "changed": outcome.changed,
        "resolved": outcome.lock is not None,
        "reason": outcome.reason,
        "diff": outcome.diff.to_dict() if outcome.diff is not None else None,
        "to_install": len(outcome.lock.to_install()) if outcome.lock is not None else None,
        "seconds": round(outcome.seconds, 3),
    }

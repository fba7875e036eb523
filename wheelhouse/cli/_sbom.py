"""`wheelhouse sbom LOCK [-o FILE]`: what a lock (or a packed artifact) ships, as CycloneDX."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sbom",
        help="a CycloneDX 1.6 SBOM of a lock or an artifact",
        description="Write a CycloneDX 1.6 JSON SBOM: one component per locked package (purl, "
        "version, sha256 of the exact file, license and supplier from its metadata where the "
        "wheelhouse has it, the dependency graph from the lock), the image's packages as a "
        "separate group, the target profile as metadata. The time stamp is SOURCE_DATE_EPOCH "
        "when set, so the same inputs give the same bytes.",
    )
    p.add_argument("lock", type=Path, nargs="?", help="requirements.lock or pylock.toml")
    p.add_argument(
        "--artifact",
        type=Path,
        metavar="PATH",
        help="describe a folder made by install or a packed .tar.gz instead of a lock",
    )
    p.add_argument(
        "--wheelhouse",
        type=Path,
        metavar="DIR",
        help="read each locked file's metadata (license, supplier) from this wheelhouse",
    )
    p.add_argument(
        "--image",
        metavar="PROFILE",
        help="list the whole installed set of this profile as the image's group (default: "
        "the built-in profile the lock was made for, else the image packages the lock uses)",
    )
    p.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.artifact.sbom import artifact_subject, lock_subject, render_sbom
    from wheelhouse.errors import UsageError
    from wheelhouse.files import atomic_write
    from wheelhouse.model.lockfiles import load_lock
    from wheelhouse.model.profile import builtin_profile_matching, load_profile

    if (args.lock is None) == (args.artifact is None):
        raise UsageError("give a LOCK or --artifact PATH (one of them)")
    image = load_profile(args.image) if args.image else None
    if args.artifact is not None:
        subject = artifact_subject(args.artifact, image)
    else:
        lock = load_lock(args.lock)
        if image is None:
            image = builtin_profile_matching(lock.target.profile_name, lock.target.profile_digest)
        subject = lock_subject(lock, args.lock.name, args.wheelhouse, image)
    text = render_sbom(subject, _timestamp())
    if args.output is None:
        sys.stdout.write(text)
    else:
        atomic_write(args.output, text)
        count = sum(1 for p in subject.packages if p.group == "artifact")
        log.info(
            "%s: CycloneDX 1.6, %d packages shipped, %d of the image",
            args.output,
            count,
            len(subject.packages) - count,
        )
    return 0


def _timestamp() -> datetime:
    from wheelhouse.artifact.pack import source_date_epoch

    epoch = source_date_epoch()
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch else datetime.now(timezone.utc)

"""Options several commands share: where packages come from, what the target is."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from wheelhouse.errors import UsageError


def add_index_options(
    p: argparse.ArgumentParser,
    cache: bool = True,
    title: str = "package sources (default: pip's configuration)",
) -> None:
    g = p.add_argument_group(title)
    g.add_argument("-i", "--index-url", help="main index; replaces pip's configured sources")
    g.add_argument("--extra-index-url", action="append", default=[], metavar="URL")
    g.add_argument("-f", "--find-links", action="append", default=[], metavar="PATH_OR_URL")
    g.add_argument("--no-index", action="store_true", help="use --find-links only")
    if cache:
        g.add_argument("--cache-dir", type=Path, help="cache folder (default ~/.cache/wheelhouse)")
        g.add_argument("--no-cache", action="store_true", help="read and write no cache")


def add_target_options(p: argparse.ArgumentParser, image: bool = True) -> None:
    g = p.add_argument_group("target (default: the built-in inference image profile)")
    if image:
        g.add_argument(
            "--image", metavar="PROFILE", help="profile JSON file or built-in profile name"
        )
    g.add_argument(
        "--python-version",
        metavar="X.Y[.Z]",
        help="a bare target of this Python (X.Y: its newest patch release)",
    )
    g.add_argument("--platform", metavar="TAG", help="platform tag, e.g. manylinux2014_x86_64")
    g.add_argument("--implementation", default="cp", help="cp (default) or pp")
    g.add_argument("--abi", help="ABI tag (default from the version, e.g. cp37m)")


def index_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from wheelhouse.net.pipconfig import load_index_config

    return load_index_config().with_sources(
        args.index_url, args.extra_index_url, args.find_links, args.no_index
    )


def cache_dir(args: argparse.Namespace) -> Path | None:
    from wheelhouse.net.cache import default_cache_dir

    if args.no_cache:
        return None
    return args.cache_dir or default_cache_dir()


def target_profile(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from wheelhouse.model.profile import bare_profile, load_profile

    bare = args.python_version or args.platform
    if not bare and (args.abi or args.implementation != "cp"):
        raise UsageError(
            "--abi and --implementation describe a bare target: give them with "
            "--python-version and/or --platform"
        )
    if bare and getattr(args, "image", None):
        raise UsageError("give either --image or --python-version/--platform, not both")
    if bare:
        return bare_profile(
            args.python_version or "3.7",
            args.platform or "manylinux2014_x86_64",
            args.implementation,
            args.abi,
        )
    return load_profile(getattr(args, "image", None))


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


# Types for argparse: a bad value is refused where it enters, with one line naming it.


def port(text: str) -> int:
    value = _whole(text, "a port")
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (1 to 65535)")
    return value


MAX_JOBS = 256  # processes or connections at once: far above any machine's use, below harm


def positive_int(text: str) -> int:
    value = _whole(text, "a whole number")
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{text}: give 1 to {MAX_JOBS}")
    return value


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (not "nan", not "inf")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"give a positive number of seconds, not {text!r}")
    return value


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def byte_size(text: str) -> int:
    """An argparse type: a size in bytes, with an optional K, M, G or T (powers of 1024)."""
    m = re.fullmatch(r"([0-9]{1,15})\s*([KMGT]?)i?B?", text.strip(), re.IGNORECASE)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"not a size (e.g. 500M, 8G): {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def wheelhouse_location(text: str) -> Path | str:
    """--wheelhouse: a folder, or az://CONTAINER/PREFIX (checked here, opened by the command)."""
    from wheelhouse.store.location import AZ_SCHEME, check_not_mistyped, parse_blob_url

    try:
        check_not_mistyped(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if "://" not in text:
        folder = Path(text)
        if (folder.parent / "wheelhouse.json").is_file():  # the parent is a wheelhouse
            from wheelhouse.store.location import check_not_nested

            try:
                check_not_nested(text, folder.name)
            except UsageError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return folder

    if not text.startswith(AZ_SCHEME):
        raise argparse.ArgumentTypeError(f"{text}: a folder or az://CONTAINER/PREFIX")
    try:
        return parse_blob_url(text).url
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None

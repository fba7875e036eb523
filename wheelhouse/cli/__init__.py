"""The command line: parse, call one library function, print. One error handler for all.

Each command lives in its own small module here with `register(subparsers)`; the library
is imported inside the command's function so that `wheelhouse --help` and a lock whose
inputs did not change start fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence

from wheelhouse import __version__
from wheelhouse.errors import WheelhouseError

# Order is the order of `wheelhouse --help`.
COMMAND_MODULES = [
    "snapshot",
    "lock",
    "sync",
    "prune",
    "serve",
    "install",
    "pack",
    "unpack",
    "verify",
    "sbom",
    "audit",
    "image-env",
    "run",
]

log = logging.getLogger("wheelhouse")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelhouse",
        description="Lock, mirror and mount Python dependencies for offline inference images.",
    )
    parser.add_argument("--version", action="version", version=f"wheelhouse {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"wheelhouse.cli._{name.replace('-', '_')}")
        module.register(sub)
    for command in sub.choices.values():
        # -v/-q after the command name too (`wheelhouse lock ... -q`); SUPPRESS keeps the
        # value given before the command name when none is given after it
        command.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="say more"
        )
        command.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only errors"
        )
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    if verbose <= 1:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (never raises for a user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    try:
        code: int = args.func(args)
        return code
    except WheelhouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # a file or folder the user named that cannot be read or written: say which, no traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def entry() -> None:
    sys.exit(main())

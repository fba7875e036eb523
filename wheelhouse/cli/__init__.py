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
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from wheelhouse import __version__
from wheelhouse.cli._config import (
    Applied,
    add_global_options,
    apply_settings,
    load_settings,
    scan_global,
)
from wheelhouse.errors import Terminated, UsageError, WheelhouseError

# Order is the order of `wheelhouse --help`.
COMMAND_MODULES = [
    "profiles",
    "snapshot",
    "lock",
    "sync",
    "prune",
    "serve",
    "nginx-config",
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
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by SIGINT
EXIT_TERMINATED = 143  # as a shell reports a process ended by SIGTERM (128 + 15)
VERBOSE_HELP = "say what is being done (sources, cache hits, each file); -vv: each request too"
QUIET_HELP = "print errors only (and what was asked for on stdout, such as --json)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line and exit code 2 from `main`, not a usage
    dump and SystemExit (the subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wheelhouse",
        description="Lock, mirror and mount Python dependencies for offline inference images.",
    )
    parser.add_argument("--version", action="version", version=f"wheelhouse {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"wheelhouse.cli._{name.replace('-', '_')}")
        module.register(sub)
    for command in sub.choices.values():
        # -v/-q after the command name too (`wheelhouse lock ... -q`); SUPPRESS keeps the
        # value given before the command name when none is given after it
        command.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
        command.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
        )
    return parser


class _Formatter(logging.Formatter):
    """Messages as they are; warnings and errors say so."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.ERROR:
            return f"error: {text}"
        return f"warning: {text}" if record.levelno >= logging.WARNING else text


def _setup_logging(verbose: int, quiet: bool) -> None:
    """-q: errors only. Default: what each command did. -v: what it is doing (sources,
    cache hits, each file). -vv: also each HTTP request (the wheelhouse.requests logger
    and httpx's own)."""
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    for name in ("wheelhouse", "httpx"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    log.setLevel(level)
    requests = logging.DEBUG if verbose > 1 and not quiet else logging.WARNING
    logging.getLogger("wheelhouse.requests").setLevel(requests)
    logging.getLogger("httpx").setLevel(
        logging.INFO if verbose > 1 and not quiet else logging.WARNING
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (never raises for a user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parse_arguments(parser, argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    previous = _on_sigterm_raise()
    try:
        code: int = args.func(args)
        return code
    except WheelhouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # a file or folder the user named that cannot be read or written: say which, no traceback
        from wheelhouse.files import os_error_text

        print(f"error: {os_error_text(exc)}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _on_sigterm_raise() -> signal.Handlers | Any:
    """SIGTERM raises Terminated (a KeyboardInterrupt), as SIGINT does: clean-up runs (an
    event loop that runs handles it itself: see `wheelhouse.mirror.sync.run_loop`). The
    handler before, to restore (None outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def interrupt_code(exc: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def interrupted(exc: BaseException) -> int:
    """Say so, and the exit code: 143 for SIGTERM, 130 for SIGINT (Ctrl-C)."""
    print("terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted", file=sys.stderr)
    return interrupt_code(exc)


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """The arguments, with the configuration (file, then WHEELHOUSE_* variables) as the
    defaults of the options it stands in for: flags > environment > file > defaults."""
    flags = scan_global(argv)
    try:
        applied = apply_settings(parser, load_settings(flags))
    except UsageError:
        if not any(arg in ("-h", "--help", "--version") for arg in argv):
            raise
        applied = Applied()  # help is still help in a folder with a broken file
    args = parser.parse_args(argv)
    if (args.config, args.no_config) != (flags.config, flags.no_config):
        raise UsageError("--config and --no-config go before the command name, spelled out")
    applied.settle(args, parser)
    return args


def entry() -> None:
    sys.exit(main())

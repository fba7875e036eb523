"""`wheelhouse sync LOCK... --wheelhouse DIR`: download the locked files and index them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from wheelhouse.cli._common import (
    add_index_options,
    byte_size,
    human_bytes,
    index_config,
    positive_int,
    seconds,
    wheelhouse_location,
)
from wheelhouse.errors import WheelhouseError

if TYPE_CHECKING:
    from wheelhouse.mirror.sync import SyncReport

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sync",
        help="download the files locks pin into a wheelhouse and index it",
        description="Download exactly the file each to-install pin names (from the lock's "
        "URL: http(s) or file://; a hash-only requirements lock is looked up by hash on the "
        "sources), verified by sha256 before it enters DIR/files/, then regenerate the "
        "static index DIR/simple/.",
    )
    p.add_argument(
        "locks", nargs="+", type=Path, metavar="LOCK", help="requirements.lock or pylock.toml"
    )
    p.add_argument(
        "--wheelhouse",
        required=True,
        type=wheelhouse_location,
        metavar="DIR|az://C/P",
        help="the wheelhouse folder, or az://CONTAINER/PREFIX in Azure Blob Storage",
    )
    p.add_argument(
        "--jobs", type=positive_int, default=8, metavar="N", help="parallel downloads (8)"
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help="seconds without data before a retry (default: pip's timeout, else 15)",
    )
    p.add_argument(
        "--max-file-size",
        type=byte_size,
        metavar="SIZE",
        help="the most bytes taken for a file whose lock gives no size (default: "
        "SyncOptions.max_file_size, 8G); a lock's size is exact: more is cut off and refused",
    )
    p.add_argument(
        "--http2",
        action="store_true",
        help="use HTTP/2 where the server offers it (one multiplexed connection; in Python"
        " about twice the CPU per byte of HTTP/1.1, so off by default)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="hash every file in the wheelhouse again against its catalog and the locks "
        "(not only size and time) and report what differs (exit 5)",
    )
    p.add_argument(
        "--repair", action="store_true", help="with --verify: download again what differs"
    )
    p.add_argument(
        "--advisories",
        metavar="URL",
        help="also keep a copy of this OSV export (a zip of PyPI advisories) in the wheelhouse "
        "for offline audits (default: $WHEELHOUSE_ADVISORIES_URL, the organisation's source; "
        "none when unset)",
    )
    p.add_argument(
        "--build-with",
        metavar="PYTHON",
        help="build every sdist the locks pin into a wheel with this interpreter (the "
        "target's X.Y), or inside the image with docker:IMAGE (its `python`, no network), "
        "from the wheelhouse's build requirements only",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_index_options(
        p,
        cache=False,
        title="where pins without a URL are looked up (default: pip's configuration)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.errors import UsageError
    from wheelhouse.mirror.sync import SyncFailed, SyncReport

    if args.repair and not args.verify:
        raise UsageError("--repair goes with --verify")
    if not args.json:
        report = _sync(args)
        _log_report(args, report)
    else:  # the summary is written whatever stops the run
        started = time.monotonic()
        try:
            report = _sync(args)
        except (WheelhouseError, OSError) as exc:
            from wheelhouse.files import os_error_text

            stopped = SyncReport(str(args.wheelhouse), seconds=time.monotonic() - started)
            error, code = (
                (str(exc), exc.exit_code)
                if isinstance(exc, WheelhouseError)
                else (os_error_text(exc), 1)
            )
            _print_summary(stopped.summary(args.locks, error, code))
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the clean-up ran
            from wheelhouse.cli import interrupt_code
            from wheelhouse.errors import Terminated

            stopped = SyncReport(str(args.wheelhouse), seconds=time.monotonic() - started)
            why = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            _print_summary(stopped.summary(args.locks, why, interrupt_code(exc)))
            raise
        _print_summary(report.summary(args.locks))
    if not report.ok:
        raise SyncFailed(report)
    return 0


def _sync(args: argparse.Namespace) -> SyncReport:
    from wheelhouse.mirror.advisories import configured_url
    from wheelhouse.mirror.sync import SyncOptions, sync

    quiet = log.getEffectiveLevel() > logging.INFO
    renderer = ProgressRenderer(sys.stderr, bar=sys.stderr.isatty() and not quiet)
    try:
        return sync(
            args.locks,
            args.wheelhouse,
            config=index_config(args),
            options=SyncOptions(
                jobs=args.jobs,
                timeout=args.timeout,
                http2=args.http2,
                max_file_size=args.max_file_size or SyncOptions.max_file_size,
                verify=args.verify,
                repair=args.repair,
                advisories=configured_url(args.advisories),
                build_with=args.build_with,
            ),
            progress=None if quiet else renderer,
        )
    finally:
        renderer.finish()


def _print_summary(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, indent=2, sort_keys=True), flush=True)


def _log_report(args: argparse.Namespace, report: SyncReport) -> None:
    if args.verify:
        log.info(
            "verified %d files: %d differed%s",
            report.verified,
            len(report.differed),
            " (downloaded again)" if args.repair and report.differed else "",
        )
    log.info(
        "%d downloaded (%s), %d already present, %d failed; %d files indexed in %.2fs",
        len(report.downloaded),
        human_bytes(report.bytes_downloaded),
        len(report.skipped),
        len(report.failed),
        report.indexed_files,
        report.seconds,
    )
    for b in report.built:
        log.info(
            "%s: %s from %s%s",
            "reused" if b.reused else "built",
            b.wheel,
            b.sdist,
            "" if b.reused else f" in {b.seconds:.1f}s",
        )
    if report.advisories is not None:
        kept = report.advisories
        log.info(
            "advisories: %d records from %s (%s; newest %s)",
            kept.records,
            kept.url,
            "fetched" if kept.changed else "not modified",
            kept.newest.date() if kept.newest else "undated",
        )


class ProgressRenderer:
    """A one-line bar on a terminal; plain log lines otherwise."""

    def __init__(self, stream: TextIO, bar: bool) -> None:
        self.stream, self.bar = stream, bar
        self.total = self.done = self.nbytes = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, event: Any) -> None:
        kind = event.kind
        if kind == "plan":
            self.total = event.count
        elif kind == "bytes":
            self.nbytes += event.count if event.total is None else 0
        elif kind in ("skip", "done", "failed"):
            self.done += 1
            if kind == "skip":
                log.debug("already present: %s", event.filename)
            elif kind == "failed":
                self._line(f"failed: {event.message}")
            elif kind == "done" and not self.bar:
                log.info("downloaded %s", event.filename)
        elif kind == "index" and not self.bar:
            log.info("index regenerated: %d files", event.count)
        if self.bar:
            self._draw(force=kind != "bytes")

    def _line(self, text: str) -> None:
        if self.bar:
            self.stream.write("\r\x1b[K")
        log.warning("%s", text)

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        rate = self.nbytes / max(now - self.started, 1e-6)
        self.stream.write(
            f"\r\x1b[K[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} files"
            f"  {human_bytes(self.nbytes)}  {human_bytes(rate)}/s"
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.bar:
            self.stream.write("\n")
            self.stream.flush()

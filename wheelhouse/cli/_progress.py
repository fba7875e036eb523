"""Rendering the library's progress reports: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from wheelhouse.progress import Progress, Step

log = logging.getLogger("wheelhouse")
BAR_WIDTH = 24


def step_progress(stream: TextIO | None = None) -> Progress | None:
    """The Progress for a command: none with -q, a bar on a terminal, else plain lines."""
    if log.getEffectiveLevel() > logging.INFO:
        return None
    out = stream or sys.stderr
    return StepRenderer(out, bar=out.isatty())


class StepRenderer:
    """One line per step: redrawn in place on a terminal; without one, a line as each
    step starts and, with -v, one per item."""

    def __init__(self, stream: TextIO, bar: bool) -> None:
        self.stream, self.bar = stream, bar
        self._drawn = 0.0
        self._started: dict[str, float] = {}

    def __call__(self, step: Step) -> None:
        if not step.done and not step.finished:
            self._started[step.step] = time.monotonic()
        if self.bar:
            self._draw(step)
        elif not step.done and not step.finished:
            log.info("%s%s", step.step, f" ({step.total})" if step.total else "")
        elif step.item:
            log.debug("  %s", step.item)

    def _draw(self, step: Step) -> None:
        now = time.monotonic()
        if step.finished:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            return
        if step.done and now - self._drawn < 0.1:
            return
        self._drawn = now
        elapsed = now - self._started.get(step.step, now)
        if step.total:
            filled = BAR_WIDTH * step.done // step.total
            count = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {step.done}/{step.total}"
        else:
            count = f"{step.done}" if step.done else ""
        line = f"{step.step} {count} {elapsed:.0f}s {step.item}".rstrip()
        self.stream.write("\r\x1b[K" + line[:160])
        self.stream.flush()

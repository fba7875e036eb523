"""Progress of the steps that take a while, reported by the library and rendered by the
caller: the command line draws a bar on a terminal and writes plain lines otherwise. The
library never prints; it calls the `Progress` it was handed, if any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """Where a step is: `done` of `total` items (`total` None: not counted ahead).

    A step is reported once as it starts (done 0), after each item (`item` names it) and
    once more with `finished` set.
    """

    step: str  # what is being done, e.g. "installing wheels"
    done: int = 0
    total: int | None = None
    item: str = ""
    finished: bool = False


Progress = Callable[[Step], None]


def ignore(step: Step) -> None:
    """The Progress of a caller that shows none."""


class Counter:
    """Reports one step's items as they finish: `start()`, `advance(item)`, `finish()`."""

    def __init__(self, progress: Progress | None, step: str, total: int | None) -> None:
        self.report = progress or ignore
        self.step, self.total, self.done = step, total, 0

    def start(self) -> None:
        self.report(Step(self.step, 0, self.total))

    def advance(self, item: str) -> None:
        self.done += 1
        self.report(Step(self.step, self.done, self.total, item))

    def finish(self) -> None:
        self.report(Step(self.step, self.done, self.total, finished=True))

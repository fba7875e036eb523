"""What changed between two locks: the pins (added, removed, moved, files changed) and the
inputs they were made from (requirements, target, sources, cut-off date). Pure.

`lock --check` and `lock --upgrade` report with it; a CI log reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wheelhouse.model.lock import Lock, Pin


@dataclass(frozen=True)
class PinChange:
    """One package whose pin differs: None on a side where the lock does not install it."""

    name: str
    old: str | None  # version, with " (image)" when the image provided it
    new: str | None
    files_changed: bool = False  # same version, other files or hashes

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "files" if self.old == self.new else "changed"

    def describe(self) -> str:
        if self.old is None:
            return f"+ {self.name} {self.new}"
        if self.new is None:
            return f"- {self.name} {self.old}"
        if self.old == self.new:
            return f"~ {self.name} {self.new}: other files or hashes"
        return f"~ {self.name} {self.old} -> {self.new}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "change": self.kind, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class LockDiff:
    pins: tuple[PinChange, ...] = ()
    inputs: tuple[str, ...] = ()  # which inputs differ, in words

    @property
    def empty(self) -> bool:
        return not self.pins and not self.inputs

    def lines(self) -> list[str]:
        return [c.describe() for c in self.pins] + [f"input: {i}" for i in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {"pins": [c.to_dict() for c in self.pins], "inputs": list(self.inputs)}


def diff_locks(old: Lock, new: Lock) -> LockDiff:
    """The pins and inputs that differ from `old` to `new`."""
    return LockDiff(tuple(_pin_changes(old, new)), tuple(_input_changes(old, new)))


def _shown(pin: Pin | None) -> str | None:
    if pin is None:
        return None
    return pin.version + (" (image)" if pin.source == "image" else "")


def _files(pin: Pin) -> frozenset[str]:
    """The hashes a pin allows (a requirements lock names no files, only hashes)."""
    return frozenset(f.sha256 for f in pin.files)


def _pin_changes(old: Lock, new: Lock) -> list[PinChange]:
    before = {p.name: p for p in old.pins}
    after = {p.name: p for p in new.pins}
    changes = []
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        if a is None or b is None or _shown(a) != _shown(b):
            changes.append(PinChange(name, _shown(a), _shown(b)))
        elif _files(a) != _files(b):
            changes.append(PinChange(name, _shown(a), _shown(b), files_changed=True))
    return changes


def _input_changes(old: Lock, new: Lock) -> list[str]:
    out = []
    added = sorted(set(new.requirements) - set(old.requirements))
    dropped = sorted(set(old.requirements) - set(new.requirements))
    if added or dropped:
        out.append(
            "requirements changed: "
            + ", ".join([*(f"+{r}" for r in added), *(f"-{r}" for r in dropped)])
        )
    if old.target.profile_digest != new.target.profile_digest:
        out.append(
            f"target changed: {old.target.profile_name} ({old.target.profile_digest[:12]}) "
            f"-> {new.target.profile_name} ({new.target.profile_digest[:12]})"
        )
    if old.indexes != new.indexes:
        out.append(
            "package sources changed: "
            + (", ".join(old.indexes) or "none")
            + " -> "
            + (", ".join(new.indexes) or "none")
        )
    if (old.exclude_newer or "") != (new.exclude_newer or ""):
        out.append(f"--exclude-newer changed: {old.exclude_newer} -> {new.exclude_newer}")
    return out

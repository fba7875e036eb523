"""A wheel read for installing: every member checked against the wheel's own RECORD.

Names are checked before anything is written (no escapes, no links, nothing unrecorded);
each member travels with its RECORD row, and the destination checks the bytes against it
while hashing them for the new RECORD (one hash per file). A mismatch fails the install,
and the staging tree it was written into is thrown away.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from installer.records import InvalidRecordEntry, RecordEntry, parse_record_file
from installer.sources import WheelContentElement, WheelFile

from wheelhouse.errors import IntegrityError
from wheelhouse.mirror.destination import is_link_mode, unsafe_member_reason

_SIGNATURES = ("RECORD.jws", "RECORD.p7s")


class CheckedWheel(WheelFile):
    """installer's WheelFile that refuses unsafe names and bytes that differ from RECORD."""

    def __init__(self, f: zipfile.ZipFile, label: str) -> None:
        super().__init__(f)
        self.label = label
        self._records: dict[str, RecordEntry] = {}
        self._checked = False

    def check_names(self) -> None:
        """Collect every problem of the archive's names and RECORD rows, then raise once."""
        zf = self._zipfile
        issues: list[str] = []
        for info in zf.infolist():
            reason = unsafe_member_reason(info.filename)
            if reason:
                issues.append(f"entry {info.filename!r}: {reason}")
            elif is_link_mode(info.external_attr >> 16):
                issues.append(f"entry {info.filename!r}: a link or special file")
        if issues:
            raise IntegrityError(self._message(issues))
        try:
            rows = list(parse_record_file(self.read_dist_info("RECORD").splitlines()))
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(self._message([f"no readable RECORD ({exc})"])) from exc
        record_path = f"{self.dist_info_dir}/RECORD"
        for row in rows:
            reason = unsafe_member_reason(row[0])
            if reason:
                issues.append(f"RECORD row {row[0]!r}: {reason}")
                continue
            try:
                self._records[row[0]] = RecordEntry.from_elements(*row)
            except InvalidRecordEntry as exc:
                issues.append(f"RECORD row {row[0]!r}: {', '.join(exc.issues)}")
        names = {i.filename for i in zf.infolist() if not i.filename.endswith("/")}
        for name in sorted(names):
            entry = self._records.get(name)
            if name == record_path or name.rsplit("/", 1)[-1] in _SIGNATURES:
                continue
            if entry is None:
                issues.append(f"{name} is not in RECORD")
            elif entry.hash_ is None or entry.size is None:
                issues.append(f"{name} has no hash or size in RECORD")
            elif entry.size != zf.getinfo(name).file_size:
                # caught before inflating: a member can't be bigger than RECORD says
                issues.append(f"{name} does not match its RECORD size")
        for name in sorted(set(self._records) - names):
            issues.append(f"{name} is in RECORD but not in the wheel")
        if issues:
            raise IntegrityError(self._message(issues))
        self._checked = True

    def get_contents(self) -> Iterator[WheelContentElement]:
        """Each member's bytes, checked against RECORD before they are yielded."""
        if not self._checked:
            self.check_names()
        for info in self._zipfile.infolist():
            if info.filename.endswith("/"):
                continue
            entry = self._records.get(info.filename)
            # RECORD itself and signature files have no row: installer skips RECORD
            row = entry.to_row() if entry is not None else (info.filename, "", "")
            mode = info.external_attr >> 16
            # the destination checks the bytes against `expected` as it writes them
            yield row, _Member(self._zipfile.read(info), entry), bool(mode & 0o111)

    def _message(self, issues: list[str]) -> str:
        return f"{self.label}: the wheel is not sound:\n  " + "\n  ".join(issues)


class _Member(io.BytesIO):
    """A member's bytes with the RECORD row they must match."""

    def __init__(self, data: bytes, expected: RecordEntry | None) -> None:
        super().__init__(data)
        self.expected = expected

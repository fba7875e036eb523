"""A wheel read for installing: every member checked against the wheel's own RECORD.

Names are checked before anything is written (no escapes, no links, nothing unrecorded);
each member travels with its RECORD row, and the destination checks the bytes against it
while hashing them for the new RECORD (one hash per file). A mismatch fails the install,
and the staging tree it was written into is thrown away.
"""

from __future__ import annotations

import mmap
import struct
import zipfile
import zlib
from collections.abc import Iterator
from types import ModuleType

from installer.records import InvalidRecordEntry, RecordEntry
from installer.sources import WheelContentElement, WheelFile

from wheelhouse.artifact.destination import is_link_mode, unsafe_member_reason
from wheelhouse.errors import IntegrityError
from wheelhouse.model.record import RecordedBytes, read_record

_SIGNATURES = ("RECORD.jws", "RECORD.p7s")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader
_LOCAL_SIGNATURE = b"PK\x03\x04"


def _inflater() -> ModuleType:
    """ISA-L's inflate where installed (about twice zlib's speed), else zlib: same streams."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:  # pragma: no cover - isal has wheels for the usual platforms
        return zlib


_INFLATE = _inflater()


class CheckedWheel(WheelFile):
    """installer's WheelFile that refuses unsafe names and bytes that differ from RECORD."""

    def __init__(
        self, f: zipfile.ZipFile, label: str, data: bytes | mmap.mmap | None = None
    ) -> None:
        """`data`: the whole archive's bytes, when `f` reads them; members are then
        inflated straight from it, without zipfile's per-member file machinery."""
        super().__init__(f)
        self._zip = f  # our own handle: installer's is private
        self.label = label
        self._data = data
        self._view = memoryview(data) if data is not None else None
        self._records: dict[str, RecordEntry] = {}
        self._checked = False

    def check_names(self) -> None:
        """Collect every problem of the archive's names and RECORD rows, then raise once."""
        zf = self._zip
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
            text = self.read_dist_info("RECORD")
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(self._message([f"no readable RECORD ({exc})"])) from exc
        try:
            rows = read_record(text, "RECORD")
        except IntegrityError as exc:
            raise IntegrityError(self._message([str(exc)])) from None
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
        for info in self._zip.infolist():
            if info.filename.endswith("/"):
                continue
            entry = self._records.get(info.filename)
            # RECORD itself and signature files have no row: installer skips RECORD
            row = entry.to_row() if entry is not None else (info.filename, "", "")
            mode = info.external_attr >> 16
            # the destination checks the bytes against `expected` as it writes them
            yield row, RecordedBytes(self._read(info, entry), entry), bool(mode & 0o111)

    def _read(self, info: zipfile.ZipInfo, entry: RecordEntry | None) -> bytes:
        """A member's bytes, inflated in one call from the archive held in memory.

        What zipfile checks, this checks too: the local header's signature and name agree
        with the central directory, no encryption, the size is the one announced (and so
        the one RECORD gives, see check_names). The CRC is left out where the destination
        compares the bytes with RECORD's sha256 (a stronger check of the same bytes).
        """
        data = self._view
        if data is None or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return self._zip.read(info)
        start = info.header_offset
        header = _LOCAL_HEADER.unpack_from(data, start) if start + 30 <= len(data) else None
        if header is None or header[0] != _LOCAL_SIGNATURE:
            raise IntegrityError(self._message([f"{info.filename}: bad local file header"]))
        name_len, extra_len = header[10], header[11]
        name_start = start + _LOCAL_HEADER.size
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        name = bytes(data[name_start : name_start + name_len]).decode(encoding, "replace")
        if info.flag_bits & 0x1 or name != info.orig_filename:
            problem = "encrypted, or its local header names another file"
            raise IntegrityError(self._message([f"{info.filename}: {problem}"]))
        begin = name_start + name_len + extra_len
        # a view, no copy; released on the way out, errors too, so the mapping can close
        with data[begin : begin + info.compress_size] as raw:
            if len(raw) != info.compress_size:
                raise IntegrityError(self._message([f"{info.filename}: truncated"]))
            if info.compress_type == zipfile.ZIP_STORED:
                out = bytes(raw)
            else:
                out = self._inflate(raw, info)
        if len(out) != info.file_size:
            raise IntegrityError(self._message([f"{info.filename}: size differs from its entry"]))
        if (entry is None or entry.hash_ is None) and zlib.crc32(out) != info.CRC:
            raise IntegrityError(self._message([f"{info.filename}: bad CRC"]))
        return out

    def _inflate(self, raw: memoryview, info: zipfile.ZipInfo) -> bytes:
        inflater = _INFLATE.decompressobj(-15)
        try:  # one byte more than announced is enough to see a member that is bigger
            out = inflater.decompress(raw, info.file_size + 1)
        except Exception as exc:  # zlib.error, or isal's IsalError
            # the message only: the exception's frames would keep `raw` exported
            problem = f"{info.filename}: {exc}"
        else:
            if inflater.eof:
                return bytes(out)
            problem = f"{info.filename}: does not inflate whole"
        raise IntegrityError(self._message([problem]))

    def release(self) -> None:
        """Let go of `data` (a mapping can be closed only once nothing points into it)."""
        if self._view is not None:
            self._view.release()
            self._view = None

    def _message(self, issues: list[str]) -> str:
        return f"{self.label}: the wheel is not sound:\n  " + "\n  ".join(issues)

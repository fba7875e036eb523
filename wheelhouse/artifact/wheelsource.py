"""A wheel read for installing: every member checked against the wheel's own RECORD.

Names are checked before anything is written (no escapes, no links, nothing unrecorded);
each member travels with its RECORD row, and the destination checks the bytes against it
while hashing them for the new RECORD (one hash per file). A mismatch fails the install,
and the staging tree it was written into is thrown away.
"""

from __future__ import annotations

import configparser
import io
import mmap
import struct
import zipfile
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any, BinaryIO, NoReturn, cast

from installer.records import InvalidRecordEntry, RecordEntry
from installer.sources import WheelContentElement, WheelFile
from installer.utils import SCHEME_NAMES, parse_entrypoints, parse_metadata_file

from wheelhouse.artifact.destination import is_link_mode, unsafe_member_reason
from wheelhouse.errors import IntegrityError
from wheelhouse.model.record import Recorded, RecordedBytes, read_record

_SIGNATURES = ("RECORD.jws", "RECORD.p7s")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader
_LOCAL_SIGNATURE = b"PK\x03\x04"
# Bounds on what a wheel can make install hold in memory (each refusal names the bound):
WHOLE_MEMBER = 4 << 20  # members up to this are inflated in one call; bigger ones stream
STREAM_CHUNK = 1 << 20  # what a streamed member inflates (and takes in) at a time
METADATA_MEMBER = 16 << 20  # RECORD, WHEEL, entry_points.txt: read whole by the installer
CENTRAL_DIRECTORY = 32 << 20  # the zip's directory, parsed whole by zipfile (~76k entries/MB)
MEMBERS = 200_000  # entries of one wheel (the biggest real wheels have tens of thousands)
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")


def check_directory_size(data: bytes | mmap.mmap, label: str) -> None:
    """Refuse a zip whose central directory is too big to parse: zipfile reads all of it
    into objects (hundreds of bytes an entry) before anything else can look at it."""
    tail_start = max(0, len(data) - (_EOCD.size + 0xFFFF))
    at = data.rfind(b"PK\x05\x06", tail_start)
    if at < 0 or at + _EOCD.size > len(data):
        return  # not a zip: zipfile says so in its own words
    size = _EOCD.unpack_from(data, at)[5]
    locator = at - _EOCD64_LOCATOR.size
    if size == 0xFFFFFFFF and locator >= 0:
        sig, _, offset, _ = _EOCD64_LOCATOR.unpack_from(data, locator)
        if sig == b"PK\x06\x07" and offset + _EOCD64.size <= len(data):
            size = _EOCD64.unpack_from(data, offset)[8]
    if size > CENTRAL_DIRECTORY:
        raise IntegrityError(
            f"{label}: the wheel is not sound:\n  a central directory of {size} bytes "
            f"(at most {CENTRAL_DIRECTORY})"
        )


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
        if len(zf.infolist()) > MEMBERS:
            raise IntegrityError(self.message([f"more than {MEMBERS} entries"]))
        folders = (self.data_dir, self.dist_info_dir)  # each a walk over the names: once
        for info in zf.infolist():
            reason = unsafe_member_reason(info.filename) or _placement_problem(info, *folders)
            if reason:
                issues.append(f"entry {info.filename!r}: {reason}")
            elif is_link_mode(info.external_attr >> 16):
                issues.append(f"entry {info.filename!r}: a link or special file")
        if issues:
            raise IntegrityError(self.message(issues))
        try:
            text = self.read_dist_info("RECORD")
            wheel = self.read_dist_info("WHEEL")
        except (KeyError, ValueError, RuntimeError, NotImplementedError, zlib.error) as exc:
            # missing, not UTF-8, encrypted, compressed in a way zipfile cannot undo
            raise IntegrityError(self.message([f"no readable RECORD or WHEEL ({exc})"])) from None
        version = parse_metadata_file(wheel).get("Wheel-Version") or ""
        if not version.startswith("1."):
            raise IntegrityError(self.message([f"WHEEL: Wheel-Version {version!r}, not 1.x"]))
        self._check_entry_points()
        try:
            rows = read_record(text, "RECORD")
        except IntegrityError as exc:
            raise IntegrityError(self.message([str(exc)])) from None
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
            raise IntegrityError(self.message(issues))
        self._checked = True

    def _check_entry_points(self) -> None:
        """entry_points.txt as the installer will read it (an INI file: it must parse)."""
        if "entry_points.txt" not in self.dist_info_filenames:
            return
        try:
            list(parse_entrypoints(self.read_dist_info("entry_points.txt")))
        except (configparser.Error, ValueError, RuntimeError, NotImplementedError) as exc:
            problem = " ".join(str(exc).split())[:200]
            raise IntegrityError(self.message([f"entry_points.txt: {problem}"])) from None

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
            yield row, cast(BinaryIO, self._read(info, entry)), bool(mode & 0o111)

    def _read(
        self, info: zipfile.ZipInfo, entry: RecordEntry | None
    ) -> RecordedBytes | MemberStream:
        """A member's bytes, inflated straight from the archive held in memory: whole for a
        small member, a chunk at a time as they are written for a big one.

        What zipfile checks, this checks too: the local header's signature and name agree
        with the central directory, no encryption, the size is the one announced (and so
        the one RECORD gives, see check_names). The CRC is left out where the destination
        compares the bytes with RECORD's sha256 (a stronger check of the same bytes).
        """
        data = self._view
        if data is None or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            if info.file_size > WHOLE_MEMBER:  # zipfile reads it whole: only small ones
                problem = f"{info.filename}: compression type {info.compress_type}"
                raise IntegrityError(self.message([f"{problem} (only stored or deflated)"]))
            return RecordedBytes(self._zip.read(info), entry)
        begin = self._data_start(data, info)
        if info.file_size > WHOLE_MEMBER:
            return MemberStream(self, info, entry, begin)
        # a view, no copy; released on the way out, errors too, so the mapping can close
        with data[begin : begin + info.compress_size] as raw:
            if len(raw) != info.compress_size:
                raise IntegrityError(self.message([f"{info.filename}: truncated"]))
            if info.compress_type == zipfile.ZIP_STORED:
                out = bytes(raw)
            else:
                out = self._inflate(raw, info)
        if len(out) != info.file_size:
            raise IntegrityError(self.message([f"{info.filename}: size differs from its entry"]))
        if (entry is None or entry.hash_ is None) and zlib.crc32(out) != info.CRC:
            raise IntegrityError(self.message([f"{info.filename}: bad CRC"]))
        return RecordedBytes(out, entry)

    def _data_start(self, data: memoryview, info: zipfile.ZipInfo) -> int:
        """Where a member's compressed bytes begin, after a local header that agrees."""
        start = info.header_offset
        header = _LOCAL_HEADER.unpack_from(data, start) if start + 30 <= len(data) else None
        if header is None or header[0] != _LOCAL_SIGNATURE:
            raise IntegrityError(self.message([f"{info.filename}: bad local file header"]))
        name_len, extra_len = int(header[10]), int(header[11])
        name_start = start + _LOCAL_HEADER.size
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        name = bytes(data[name_start : name_start + name_len]).decode(encoding, "replace")
        if info.flag_bits & 0x1 or name != info.orig_filename:
            problem = "encrypted, or its local header names another file"
            raise IntegrityError(self.message([f"{info.filename}: {problem}"]))
        begin = name_start + name_len + extra_len
        if begin + info.compress_size > len(data):
            raise IntegrityError(self.message([f"{info.filename}: truncated"]))
        return begin

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
        raise IntegrityError(self.message([problem]))

    def compressed(self, begin: int, size: int) -> bytes:
        """A copy of `size` compressed bytes from `begin` (a copy: no view outlives
        `release`, so the mapping can always close)."""
        if self._view is None:  # pragma: no cover - streams are made only with a view
            raise IntegrityError(self.message(["read after release"]))
        with self._view[begin : begin + size] as raw:
            return bytes(raw)

    def release(self) -> None:
        """Let go of `data` (a mapping can be closed only once nothing points into it)."""
        if self._view is not None:
            self._view.release()
            self._view = None

    def message(self, issues: list[str]) -> str:
        return f"{self.label}: the wheel is not sound:\n  " + "\n  ".join(issues)


def _placement_problem(info: zipfile.ZipInfo, data_dir: str, dist_info_dir: str) -> str | None:
    """Why the installer could not place a member, checked before it tries: installer's
    scheme lookup loops forever on a file named exactly `<name>-<version>.data` (or one
    reached through a "." segment); a file directly under it, or where a scheme folder
    belongs, has no place; dist-info files the installer reads whole are bounded."""
    name = info.filename[:-1] if info.is_dir() else info.filename
    parts = name.split("/")
    if "" in parts or "." in parts:
        return "empty or '.' path segment"
    if parts[0] == data_dir and not info.is_dir():
        if len(parts) == 1:
            return "a file where the .data folder belongs"
        if parts[1] not in SCHEME_NAMES:
            return f"not in a known .data scheme ({', '.join(SCHEME_NAMES)})"
        if len(parts) == 2:
            return "a file where a .data scheme folder belongs"
    if parts[0] == dist_info_dir and info.file_size > METADATA_MEMBER:
        return f"{info.file_size} bytes of metadata (at most {METADATA_MEMBER})"
    return None


class MemberStream(Recorded, io.RawIOBase):
    """A big member, inflated a chunk at a time as the destination reads it: never more
    bytes than the zip and RECORD announce, never more than a chunk in memory, and all of
    them (then a clean end of the deflate stream) or an IntegrityError."""

    def __init__(
        self, wheel: CheckedWheel, info: zipfile.ZipInfo, entry: RecordEntry | None, begin: int
    ) -> None:
        super().__init__()
        self._expect(entry)
        self._wheel, self._info = wheel, info
        self._pos, self._end = begin, begin + info.compress_size
        self._left = info.file_size
        self._inflater: Any = (
            _INFLATE.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        )
        self._tail = b""  # compressed bytes taken in but not inflated yet (up to a chunk)
        self._crc: int | None = 0 if entry is None or entry.hash_ is None else None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (a chunk at most); b"" once the member is whole and checked."""
        if self._left == 0:
            self._finish()
            return b""
        want = min(self._left, STREAM_CHUNK if size is None or size < 0 else size)
        out = self._stored(want) if self._inflater is None else self._inflated(want)
        self._left -= len(out)
        self.track(out)
        if self._crc is not None:
            self._crc = zlib.crc32(out, self._crc)
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _take(self) -> bytes:
        """The next compressed chunk (b"" at the end of the member's bytes)."""
        n = min(STREAM_CHUNK, self._end - self._pos)
        data = self._wheel.compressed(self._pos, n) if n > 0 else b""
        self._pos += n
        return data

    def _stored(self, want: int) -> bytes:
        n = min(want, self._end - self._pos)
        if n <= 0:
            self._fail("truncated")
        data = self._wheel.compressed(self._pos, n)
        self._pos += n
        return data

    def _inflated(self, want: int) -> bytes:
        while True:  # each turn takes in compressed bytes or ends: bounded by the member
            source = self._tail or self._take()
            try:
                out: bytes = self._inflater.decompress(source, want)
            except Exception as exc:  # zlib.error, or isal's IsalError
                self._fail(str(exc))
            self._tail = self._inflater.unconsumed_tail
            if out:
                return out
            if self._inflater.eof:
                self._fail("inflates to less than its entry's size")
            if not source:
                self._fail("does not inflate whole (truncated)")

    def _finish(self) -> None:
        """The declared size is out: the deflate stream must end here, and the CRC agree."""
        while self._inflater is not None and not self._inflater.eof:
            source = self._tail or self._take()
            try:
                extra = self._inflater.decompress(source, 1)
            except Exception as exc:  # zlib.error, or isal's IsalError
                self._fail(str(exc))
            self._tail = self._inflater.unconsumed_tail
            if extra:
                self._fail("inflates to more than its entry's size")
            if not source:
                self._fail("does not inflate whole (truncated)")
        if self._crc is not None and self._crc != self._info.CRC:
            self._fail("bad CRC")

    def _fail(self, problem: str) -> NoReturn:
        raise IntegrityError(self._wheel.message([f"{self._info.filename}: {problem}"]))

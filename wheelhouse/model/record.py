"""RECORD, the wheel's list of files with their hashes and sizes: read with installer's
parser, hashes written the one way RECORD writes them (``sha256=<urlsafe base64, unpadded>``).

Used on both sides of an install: the wheel's RECORD vouches for its members, the installed
RECORD for the tree, and verify compares the two.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

from installer.records import InvalidRecordEntry, RecordEntry, parse_record_file

from wheelhouse.errors import IntegrityError

__all__ = ["RecordEntry", "Recorded", "RecordedBytes", "file_hash", "hash_text", "read_record"]

Row = tuple[str, str, str]  # path, "algorithm=digest" (may be ""), size (may be "")


def b64_digest(digest: bytes) -> str:
    """A digest as RECORD writes it: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def hash_text(algorithm: str, digest: bytes) -> str:
    """``algorithm=digest``, RECORD's hash column."""
    return f"{algorithm}={b64_digest(digest)}"


def sha256_text(hexdigest: str) -> str:
    """RECORD's hash column for a sha256 known as hex (the manifest keeps hex)."""
    return hash_text("sha256", bytes.fromhex(hexdigest))


def file_hash(path: Path, algorithm: str = "sha256") -> str | None:
    """RECORD's hash column for a file's bytes; None for an algorithm hashlib does not know."""
    try:
        h = hashlib.new(algorithm)
    except ValueError:
        return None
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return hash_text(algorithm, h.digest())


def read_record(data: bytes | str, where: str) -> list[Row]:
    """Every row of a RECORD; an unreadable one is an IntegrityError naming `where`."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return list(parse_record_file(text.splitlines()))
    except UnicodeDecodeError as exc:
        raise IntegrityError(f"{where}: RECORD is not UTF-8 ({exc.reason})") from None
    except InvalidRecordEntry as exc:
        raise IntegrityError(f"{where}: unreadable RECORD ({', '.join(exc.issues)})") from None
    except ValueError as exc:  # csv.Error, e.g. a NUL byte
        raise IntegrityError(f"{where}: unreadable RECORD ({exc})") from None


class Recorded:
    """A member's bytes travelling with the RECORD row they must match (None: no row, as for
    RECORD itself). The wheel source makes them; the destination checks them as it writes.

    The destination hashes what it writes with sha256 (the hash the new RECORD needs) and
    asks `agrees`; a row with another algorithm is checked with the hash `track` keeps, so
    that no member is hashed twice.
    """

    expected: RecordEntry | None = None
    _own: hashlib._Hash | None = None  # RECORD's own algorithm, where it is not sha256

    def _expect(self, entry: RecordEntry | None) -> None:
        self.expected = entry
        name = entry.hash_.name if entry is not None and entry.hash_ is not None else "sha256"
        if name != "sha256" and name in hashlib.algorithms_available:
            self._own = hashlib.new(name)

    def track(self, data: bytes) -> None:
        """Feed bytes as they are read (only a row whose hash is not sha256 needs them)."""
        if self._own is not None:
            self._own.update(data)

    def agrees(self, size: int, sha256_b64: str) -> bool:
        """True if the `size` bytes read (whose sha256, as RECORD writes it, is `sha256_b64`)
        match the row."""
        entry = self.expected
        if entry is None:
            return True
        if entry.size is not None and entry.size != size:
            return False
        if entry.hash_ is None:
            return True
        if entry.hash_.name == "sha256":
            return bool(entry.hash_.value == sha256_b64)
        if self._own is None or self._own.name != entry.hash_.name:
            return False  # an algorithm hashlib does not know vouches for nothing
        return bool(entry.hash_.value == b64_digest(self._own.digest()))


class RecordedBytes(Recorded, io.BytesIO):
    """A small member's bytes, inflated whole, with the RECORD row they must match."""

    def __init__(self, data: bytes, expected: RecordEntry | None) -> None:
        super().__init__(data)
        self._expect(expected)
        self.track(data)

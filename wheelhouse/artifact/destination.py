"""Where an installed wheel's files go under a target folder, and refusing to go anywhere else.

The layout is the one the image expects of `AZUREML_EXTRA_PYTHON_LIB_PATH`:
``OUT/lib/pythonX.Y/site-packages`` with scripts in ``OUT/bin``. The destination plugs into
the `installer` library and never writes outside the folder it was given.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn, cast

from installer.destinations import SchemeDictionaryDestination
from installer.records import Hash, RecordEntry
from installer.scripts import Script
from installer.utils import Scheme

from wheelhouse.artifact.manifest import MANIFEST_NAME
from wheelhouse.errors import IntegrityError
from wheelhouse.files import renamed_error
from wheelhouse.model.record import Recorded, b64_digest

if TYPE_CHECKING:
    from installer.scripts import ScriptSection

INSTALLER_NAME = "wheelhouse"


@dataclass(frozen=True)
class TargetLayout:
    """The folders of one target tree, for one Python minor version."""

    root: Path
    python_minor: str  # "3.7"

    @property
    def site_packages(self) -> Path:
        return self.root / "lib" / f"python{self.python_minor}" / "site-packages"

    @property
    def site_packages_rel(self) -> str:
        return f"lib/python{self.python_minor}/site-packages"

    @property
    def scripts(self) -> Path:
        return self.root / "bin"

    def scheme_dict(self) -> dict[str, str]:
        """installer's schemes mapped into the tree: .data/<scheme>/ lands here too."""
        site = str(self.site_packages)
        return {
            "purelib": site,
            "platlib": site,
            "scripts": str(self.scripts),
            "headers": str(self.root / "include"),
            "data": str(self.root),
        }


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member name could escape the folder it is unpacked into (None: safe)."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if "\\" in name:
        return "backslash in path"
    if ".." in name.split("/"):
        return "'..' in path"
    return None


def is_link_mode(mode: int) -> bool:
    """True for symbolic links, devices, FIFOs: anything a plain file tree must not hold."""
    kind = stat.S_IFMT(mode)
    return kind not in (0, stat.S_IFREG, stat.S_IFDIR)  # 0: zip tools that set no type


@dataclass(frozen=True)
class WrittenFile:
    path: str  # relative to the tree's root
    sha256: str
    size: int
    executable: bool


@dataclass
class SafeDestination(SchemeDictionaryDestination):
    """installer's destination confined to one tree: no escapes, no clobbering, no byte-code.

    `interpreter` is the target's (e.g. ``/usr/bin/env python3.7``); it is written verbatim
    after ``#!`` in generated scripts, so a command with arguments works too.
    """

    confine_to: str = ""
    label: str = ""  # "name version", for messages
    written: list[WrittenFile] = field(default_factory=list)  # what this wheel put down
    umask: int = 0o022  # the process's, read once by the caller (reading it is not atomic)
    _made: set[str] = field(default_factory=set)  # folders known to exist
    _bases: dict[str, tuple[str, str]] = field(default_factory=dict)  # scheme: (base, root)

    def _target(self, scheme: Scheme, path: str) -> str:
        reason = unsafe_member_reason(path)
        if reason:
            raise IntegrityError(f"{self.label}: refusing {path!r}: {reason}")
        bases = self._bases.get(scheme)
        if bases is None:  # once per scheme, not per file
            base = os.path.abspath(self.scheme_dict[scheme])
            bases = self._bases[scheme] = (base, os.path.abspath(self.confine_to or base))
        base, root = bases
        target = os.path.normpath(base + os.sep + path)
        if not (target.startswith(base + os.sep) and target.startswith(root + os.sep)):
            raise IntegrityError(f"{self.label}: refusing {path!r}: escapes the target folder")
        if target == root + os.sep + MANIFEST_NAME:
            raise IntegrityError(f"{self.label}: refusing {path!r}: the tree's own manifest")
        return target

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        """Write one file a chunk at a time, checking it against the wheel's RECORD row
        when one came with it (a mismatch fails the install, whose staging tree goes).

        The staging tree is fresh and only ever gets folders and regular files from here,
        so no link can redirect a write.
        """
        target = self._target(scheme, path)
        self._make_parents(os.path.dirname(target))
        mode = 0o755 if is_executable else 0o644
        try:
            # O_EXCL: two wheels claiming one file is an error, never a silent overwrite
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError as exc:
            raise IntegrityError(
                f"{self.label}: {scheme}/{path} is already installed by another distribution"
            ) from exc
        try:
            digest, size = _copy_hashing(stream, fd)
            if mode & self.umask:  # open() applied the umask: set the mode we promised
                os.fchmod(fd, mode)
        except OSError as exc:  # a full disk: which file (os.write does not say)
            raise renamed_error(exc, target) from None
        finally:
            os.close(fd)
        b64 = b64_digest(digest.digest())  # the one hash of these bytes: check, new RECORD
        if isinstance(stream, Recorded) and not stream.agrees(size, b64):
            self._refuse(stream)
        root = self._bases[scheme][1]
        self.written.append(
            WrittenFile(target[len(root) + 1 :], digest.hexdigest(), size, is_executable)
        )
        return RecordEntry(path, Hash("sha256", b64), size)

    def _make_parents(self, parent: str) -> None:
        """Make the folders up to `parent`, each 0755 whatever the umask."""
        if parent in self._made:
            return
        missing = []
        folder = parent
        while folder not in self._made and not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o755)
            except FileExistsError:  # another worker made it (0755 as well)
                continue
            if self.umask & 0o755:
                os.chmod(folder, 0o755)
        self._made.add(parent)

    def _refuse(self, stream: Recorded) -> NoReturn:
        where = stream.expected.path if stream.expected else "a member"
        raise IntegrityError(
            f"{self.label}: the wheel is not sound:\n  {where} does not match its RECORD hash/size"
        )

    def write_file(
        self,
        scheme: Scheme,
        path: str | os.PathLike[str],
        stream: BinaryIO,
        is_executable: bool,
    ) -> RecordEntry:
        if scheme != "scripts":
            return self.write_to_fs(scheme, os.fspath(path), stream, is_executable)
        # like pip: whatever the archive's modes say, a script is executable; its `#!python`
        # line becomes the target's, checked against RECORD as the original bytes stream by
        rewritten = _Shebang(stream, self.interpreter)
        record = self.write_to_fs(scheme, os.fspath(path), cast(BinaryIO, rewritten), True)
        if isinstance(stream, Recorded) and not rewritten.agrees_with(stream):
            self._refuse(stream)
        return record

    def write_script(
        self, name: str, module: str, attr: str, section: ScriptSection
    ) -> RecordEntry:
        if posixpath.basename(name) != name or name in (".", ".."):
            raise IntegrityError(f"{self.label}: refusing script name {name!r}")
        # generate with a placeholder interpreter, then put the target's own shebang first
        _, data = Script(name, module, attr, section).generate("python", "posix")
        body = data.split(b"\n", 1)[1]
        content = f"#!{self.interpreter}\n".encode() + body
        with io.BytesIO(content) as stream:
            return self.write_to_fs(Scheme("scripts"), name, stream, is_executable=True)


COPY_CHUNK = 1 << 20


def _copy_hashing(stream: BinaryIO, fd: int) -> tuple[hashlib._Hash, int]:
    """Copy `stream` into `fd` a chunk at a time: the sha256 and size of what was written."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(COPY_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]
    return digest, size


class _Shebang(io.RawIOBase):
    """A script's bytes with a first line of `#!python...` replaced by the target's
    interpreter (as installer's fix_shebang does, but streamed: a script may be a binary
    of many megabytes). The original bytes are hashed as they pass, for RECORD."""

    def __init__(self, stream: BinaryIO, interpreter: str) -> None:
        super().__init__()
        self._stream = stream
        self._interpreter = interpreter
        self._digest = hashlib.sha256()
        self._size = 0
        self._head: bytes | None = None  # what to send first, once the first line is seen

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._head is None:
            self._head = self._first_line()
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._pull(COPY_CHUNK if size is None or size < 0 else size)

    def _pull(self, size: int) -> bytes:
        chunk = self._stream.read(size)
        self._digest.update(chunk)
        self._size += len(chunk)
        return chunk

    def _first_line(self) -> bytes:
        """The start of the script: the new shebang and what follows the old first line,
        or the original start if it has no `#!python` line (a line read a chunk at a time:
        only what follows its end is kept)."""
        start = self._pull(COPY_CHUNK)
        if not start.startswith(b"#!python"):
            return start
        while b"\n" not in start:
            more = self._pull(COPY_CHUNK)
            if not more:
                return f"#!{self._interpreter}\n".encode()
            start = more  # the line's earlier bytes are dropped, so memory stays bounded
        return f"#!{self._interpreter}\n".encode() + start.split(b"\n", 1)[1]

    def agrees_with(self, recorded: Recorded) -> bool:
        """The original bytes (all read by now) against their RECORD row."""
        return recorded.agrees(self._size, b64_digest(self._digest.digest()))

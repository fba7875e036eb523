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
from typing import TYPE_CHECKING, BinaryIO

from installer.destinations import SchemeDictionaryDestination
from installer.records import Hash, RecordEntry
from installer.scripts import Script
from installer.utils import Scheme

from wheelhouse.errors import IntegrityError
from wheelhouse.files import renamed_error
from wheelhouse.model.record import RecordedBytes, b64_digest

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
        return target

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        """Write one file, checking it against the wheel's RECORD row when one came with it.

        The staging tree is fresh and only ever gets folders and regular files from here,
        so no link can redirect a write.
        """
        target = self._target(scheme, path)
        data = stream.read()
        digest = hashlib.sha256(data)  # the one hash of these bytes: RECORD check, new RECORD
        b64 = b64_digest(digest.digest())
        self._check_recorded(stream, data, b64)
        parent = os.path.dirname(target)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
        mode = 0o755 if is_executable else 0o644
        try:
            # O_EXCL: two wheels claiming one file is an error, never a silent overwrite
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError as exc:
            raise IntegrityError(
                f"{self.label}: {scheme}/{path} is already installed by another distribution"
            ) from exc
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if mode & self.umask:  # open() applied the umask: set the mode we promised
                os.fchmod(fd, mode)
        except OSError as exc:  # a full disk: which file (os.write does not say)
            raise renamed_error(exc, target) from None
        finally:
            os.close(fd)
        root = self._bases[scheme][1]
        self.written.append(
            WrittenFile(target[len(root) + 1 :], digest.hexdigest(), len(data), is_executable)
        )
        return RecordEntry(path, Hash("sha256", b64), len(data))

    def _check_recorded(self, stream: BinaryIO, data: bytes, sha256_b64: str) -> None:
        """The bytes a wheel member brought must match its RECORD row."""
        if isinstance(stream, RecordedBytes) and not stream.agrees(data, sha256_b64):
            where = stream.expected.path if stream.expected else "a member"
            raise IntegrityError(
                f"{self.label}: the wheel is not sound:\n  "
                f"{where} does not match its RECORD hash/size"
            )

    def write_file(
        self,
        scheme: Scheme,
        path: str | os.PathLike[str],
        stream: BinaryIO,
        is_executable: bool,
    ) -> RecordEntry:
        if scheme == "scripts" and isinstance(stream, RecordedBytes):
            # the shebang is rewritten below, so check the bytes against RECORD first
            data = stream.read()
            self._check_recorded(stream, data, b64_digest(hashlib.sha256(data).digest()))
            stream.seek(0)
            stream.expected = None
        # like pip: whatever the archive's modes say, a script is executable
        return super().write_file(scheme, path, stream, is_executable or scheme == "scripts")

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

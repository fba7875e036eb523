"""The manifest of an installed tree: what it was made from and every file's hash.

Written by `install` as ``OUT/.wheelhouse-manifest.json`` and carried inside the packed
artifact; `pack` and `verify` check the tree against it. Same tree, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from wheelhouse.errors import IntegrityError, UsageError
from wheelhouse.files import atomic_write, sha256_file

MANIFEST_NAME = ".wheelhouse-manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class ManifestFile:
    path: str  # posix, relative to the tree's root
    sha256: str
    size: int
    executable: bool = False


@dataclass(frozen=True)
class ManifestDist:
    name: str
    version: str
    wheel: str
    sha256: str
    built_from: str = ""  # sha256 of the locked sdist the wheel was built from, if it was

    def to_dict(self) -> dict[str, str]:
        """Its fields; `built_from` only where set (other manifests keep their bytes)."""
        return {k: v for k, v in vars(self).items() if k != "built_from" or v}


@dataclass(frozen=True)
class Manifest:
    lock_digest: str  # of the installed pins (name, version, wheel hash): format-independent
    lock_input_digest: str
    profile_name: str
    profile_digest: str
    python_version: str
    dists: tuple[ManifestDist, ...]
    files: tuple[ManifestFile, ...]
    compiled_with: str = ""  # the interpreter version that wrote byte-code, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "lock_digest": self.lock_digest,
            "lock_input_digest": self.lock_input_digest,
            "profile": self.profile_name,
            "profile_digest": self.profile_digest,
            "python_version": self.python_version,
            "compiled_with": self.compiled_with,
            "dists": [d.to_dict() for d in self.dists],
            "files": [vars(f) for f in self.files],
        }

    def to_json(self) -> str:
        """indent=1, sorted keys. json's indenting encoder is pure Python (about 5 us a file
        on 11 000 files), so the file rows, the bulk, are written here, byte for byte as
        json.dumps writes them (a test holds the two to the same output)."""
        head = self.to_dict()
        head["files"] = [None]  # a placeholder row, replaced below
        text = json.dumps(head, indent=1, sort_keys=True)
        if not self.files:
            return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"
        enc = json.encoder.encode_basestring_ascii  # what json.dumps uses for str
        rows = ",\n".join(
            f'  {{\n   "executable": {"true" if f.executable else "false"},\n'
            f'   "path": {enc(f.path)},\n   "sha256": {enc(f.sha256)},\n'
            f'   "size": {int(f.size)}\n  }}'
            for f in self.files
        )
        placeholder = '"files": [\n  null\n ]'
        assert text.count(placeholder) == 1
        return text.replace(placeholder, '"files": [\n' + rows + "\n ]") + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        if not isinstance(data, Mapping):
            raise UsageError("malformed manifest: not a table")
        try:
            _check_rows(data.get("dists"), ManifestDist, "dists")
            _check_rows(data.get("files"), ManifestFile, "files")
            if data.get("format") != MANIFEST_FORMAT:
                raise UsageError(f"unsupported manifest format {data.get('format')!r}")
            return cls(
                lock_digest=str(data["lock_digest"]),
                lock_input_digest=str(data["lock_input_digest"]),
                profile_name=str(data["profile"]),
                profile_digest=str(data["profile_digest"]),
                python_version=str(data["python_version"]),
                compiled_with=str(data.get("compiled_with", "")),
                dists=tuple(ManifestDist(**d) for d in data["dists"]),
                files=tuple(ManifestFile(**f) for f in data["files"]),
            )
        except (KeyError, TypeError) as exc:
            raise UsageError(f"malformed manifest: {exc!r}") from exc


def _check_rows(rows: Any, kind: type, key: str) -> None:
    """Each row a table of exactly the row type's fields, each of its type."""
    # the annotations are strings (postponed evaluation): "str", "int", "bool"
    types = {f.name: {"str": str, "int": int, "bool": bool}[str(f.type)] for f in fields(kind)}
    if not isinstance(rows, list):
        raise UsageError(f"malformed manifest: {key!r} is not a list")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not set(row) <= set(types):
            raise UsageError(f"malformed manifest: {key}[{i}] is not a {kind.__name__}")
        for name, value in row.items():
            want = types[name]
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise UsageError(f"malformed manifest: {key}[{i}].{name} is not a {want.__name__}")


def pins_digest(dists: Sequence[ManifestDist]) -> str:
    """A digest of what is installed, the same whichever lock file format named it."""
    lines = sorted(f"{d.name}=={d.version} sha256:{d.sha256}" for d in dists)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def scan_tree(root: Path) -> tuple[ManifestFile, ...]:
    """Every regular file under root (but the manifest), sorted; links are refused."""
    out: list[ManifestFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            if os.path.islink(os.path.join(dirpath, name)):
                raise IntegrityError(f"{os.path.join(dirpath, name)} is a link; refusing it")
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel == MANIFEST_NAME:
                continue
            st = full.stat()
            if not stat.S_ISREG(st.st_mode):
                raise IntegrityError(f"{full} is not a regular file")
            out.append(ManifestFile(rel, sha256_file(full), st.st_size, bool(st.st_mode & 0o111)))
    return tuple(sorted(out, key=lambda f: f.path))


def write_manifest(root: Path, manifest: Manifest) -> Path:
    return atomic_write(Path(root) / MANIFEST_NAME, manifest.to_json())


def read_manifest(root: Path) -> Manifest | None:
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deeply
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    try:
        return Manifest.from_dict(data)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def compare_tree(manifest: Manifest, found: Sequence[ManifestFile]) -> list[tuple[str, str]]:
    """Differences between the manifest and a scan of the tree: (path, what) pairs."""
    want = {f.path: f for f in manifest.files}
    have = {f.path: f for f in found}
    problems = [(p, "missing (listed in the manifest)") for p in sorted(set(want) - set(have))]
    problems += [(p, "not listed in the manifest") for p in sorted(set(have) - set(want))]
    for path in sorted(set(want) & set(have)):
        w, h = want[path], have[path]
        if (w.sha256, w.size) != (h.sha256, h.size):
            problems.append((path, "content differs from the manifest"))
        elif w.executable != h.executable:
            problems.append((path, "executable bit differs from the manifest"))
    return problems

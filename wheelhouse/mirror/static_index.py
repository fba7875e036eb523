"""The static simple index: pure renderers (PEP 503 HTML, PEP 691 JSON) and the writer.

The renderers take data and return text: same entries, same bytes. `write_index` reads what
``files/`` holds, adds PEP 658 metadata beside each wheel, and replaces the pages one file at
a time in an order that never shows a link to something missing.
"""

from __future__ import annotations

import contextlib
import email.parser
import hashlib
import html
import json
import logging
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from wheelhouse.files import atomic_write_many
from wheelhouse.mirror.catalog import FileRecord, verified
from wheelhouse.model.filenames import parse_filename
from wheelhouse.store.layout import METADATA_SUFFIX, Wheelhouse

log = logging.getLogger("wheelhouse")
API_VERSION = "1.1"
METADATA_BYTES = 16 << 20  # a wheel METADATA bigger than this is not offered (PEP 658)


@dataclass(frozen=True)
class IndexEntry:
    """One file as an index page shows it."""

    filename: str
    version: str
    sha256: str
    size: int
    requires_python: str | None = None
    upload_time: str | None = None
    metadata_sha256: str | None = None


def project_of(filename: str) -> tuple[NormalizedName, str] | None:
    """(project, version) from a wheel or sdist file name; None if it is neither."""
    parsed = parse_filename(filename)
    return (parsed.name, str(parsed.version)) if parsed else None


# -- pure renderers -------------------------------------------------------------------


def _html_page(title: str, body: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n"
        + "".join(f"    {line}<br/>\n" for line in body)
        + "  </body>\n</html>\n"
    )


def render_root_html(projects: Sequence[str]) -> str:
    return _html_page(
        "Simple index",
        [f'<a href="{quote(p)}/">{html.escape(p)}</a>' for p in sorted(projects)],
    )


def render_root_json(projects: Sequence[str]) -> str:
    doc = {
        "meta": {"api-version": API_VERSION},
        "projects": [{"name": p} for p in sorted(projects)],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def file_href(filename: str) -> str:
    """From /simple/<project>/ to files/<filename>: relative, so any static host serves it."""
    return f"../../files/{quote(filename)}"


def render_project_html(project: str, entries: Sequence[IndexEntry]) -> str:
    links = []
    for e in sorted(entries, key=lambda e: e.filename):
        attrs = ""
        if e.requires_python:
            attrs += f' data-requires-python="{html.escape(e.requires_python)}"'
        if e.metadata_sha256:
            attrs += f' data-core-metadata="sha256={e.metadata_sha256}"'
            attrs += f' data-dist-info-metadata="sha256={e.metadata_sha256}"'
        links.append(
            f'<a href="{file_href(e.filename)}#sha256={e.sha256}"{attrs}>'
            f"{html.escape(e.filename)}</a>"
        )
    return _html_page(f"Links for {project}", links)


def _version_key(v: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(v))
    except InvalidVersion:
        return (0, v)


def render_project_json(project: str, entries: Sequence[IndexEntry]) -> str:
    files = []
    for e in sorted(entries, key=lambda e: e.filename):
        f: dict[str, object] = {
            "filename": e.filename,
            "url": file_href(e.filename),
            "hashes": {"sha256": e.sha256},
            "size": e.size,
        }
        if e.requires_python:
            f["requires-python"] = e.requires_python
        if e.upload_time:
            f["upload-time"] = e.upload_time
        if e.metadata_sha256:
            f["core-metadata"] = {"sha256": e.metadata_sha256}
            f["dist-info-metadata"] = {"sha256": e.metadata_sha256}
        files.append(f)
    versions = sorted({e.version for e in entries}, key=_version_key)
    doc = {
        "meta": {"api-version": API_VERSION},
        "name": project,
        "files": files,
        "versions": versions,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def render_tree(projects: Mapping[str, Sequence[IndexEntry]]) -> dict[str, str]:
    """Every page of the index: relative path under simple/ -> text."""
    pages = {
        "index.html": render_root_html(list(projects)),
        "index.json": render_root_json(list(projects)),
    }
    for name, entries in projects.items():
        pages[f"{name}/index.html"] = render_project_html(name, entries)
        pages[f"{name}/index.json"] = render_project_json(name, entries)
    return pages


# -- reading the files and writing the tree -------------------------------------------


def wheel_metadata(path: Path) -> bytes | None:
    """The wheel's own METADATA (the PEP 658 file), or None if the wheel has none."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [
                n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1 or zf.getinfo(names[0]).file_size > METADATA_BYTES:
                return None
            return zf.read(names[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, KeyError, EOFError):
        return None
    except (NotImplementedError, RuntimeError, ValueError, zlib.error):
        return None  # an unknown compression, an encrypted member: no metadata to offer


def requires_python_of(metadata: bytes) -> str | None:
    msg = email.parser.BytesParser().parsebytes(metadata, headersonly=True)
    value = msg.get("Requires-Python")
    return str(value).strip() if value else None


def _with_metadata(
    wheelhouse: Wheelhouse, rec: FileRecord, pending: list[tuple[Path, bytes]]
) -> FileRecord:
    """Ensure files/<wheel>.metadata exists (adding it to `pending`) and the record knows
    its hash."""
    if not rec.filename.endswith(".whl"):
        return rec
    meta_path = wheelhouse.files / (rec.filename + METADATA_SUFFIX)
    if rec.metadata_sha256 and meta_path.is_file():
        return rec
    rec, meta = with_wheel_metadata(rec, wheelhouse.file(rec.filename))
    if meta is not None:
        pending.append((meta_path, meta))
    return rec


def with_wheel_metadata(rec: FileRecord, path: Path) -> tuple[FileRecord, bytes | None]:
    """A wheel's record knowing its PEP 658 metadata (hash, Requires-Python), and that
    metadata; a record as it is (and None) for an sdist or a wheel without one."""
    if not rec.filename.endswith(".whl"):
        return rec, None
    meta = wheel_metadata(path)
    if meta is None:
        log.warning("%s: no readable METADATA; served without PEP 658 metadata", rec.filename)
        return rec, None
    return replace(
        rec,
        metadata_sha256=hashlib.sha256(meta).hexdigest(),
        requires_python=requires_python_of(meta) or rec.requires_python,
    ), meta


def entries(records: Mapping[str, FileRecord]) -> dict[str, list[IndexEntry]]:
    """The index entries of catalogued files, by project (host-only builds left out)."""
    projects: dict[str, list[IndexEntry]] = {}
    for filename in sorted(records):
        rec = records[filename]
        pv = project_of(filename)
        if pv is None or (rec.built is not None and rec.built.host_only):
            continue
        projects.setdefault(pv[0], []).append(index_entry(filename, pv[1], rec))
    return projects


def index_entry(filename: str, version: str, rec: FileRecord) -> IndexEntry:
    """What the index says of one catalogued file."""
    return IndexEntry(
        filename=filename,
        version=version,
        sha256=rec.sha256,
        size=rec.size,
        requires_python=rec.requires_python,
        upload_time=rec.upload_time,
        metadata_sha256=rec.metadata_sha256,
    )


def collect(
    wheelhouse: Wheelhouse, records: Mapping[str, FileRecord]
) -> tuple[dict[str, FileRecord], dict[str, list[IndexEntry]]]:
    """Records for every file present (verifying new or changed ones) and the index entries.

    Writes the PEP 658 metadata files that are missing, all at once, before returning.
    """
    pending: list[tuple[Path, bytes]] = []
    fresh: dict[str, FileRecord] = {}
    projects: dict[str, list[IndexEntry]] = {}
    for filename in wheelhouse.distribution_files():
        pv = project_of(filename)
        if pv is None:
            log.warning("%s: not a wheel or sdist name; left out of the index", filename)
            continue
        rec = verified(wheelhouse, records, filename)
        if rec is None:
            continue
        rec = _with_metadata(wheelhouse, rec, pending)
        fresh[filename] = rec
        if rec.built is not None and rec.built.host_only:
            continue  # built for this host's stand-in: never offered to the image
        projects.setdefault(pv[0], []).append(index_entry(filename, pv[1], rec))
    atomic_write_many(pending)
    return fresh, projects


PAGE_NAMES = ("index.html", "index.json")  # the pages of the root and of each project


def is_page(rel: str) -> bool:
    """A path under simple/ that is one of the index's own pages: a root page, or a page of
    a direct project folder (nothing deeper)."""
    folder, _, name = rel.rpartition("/")
    return name in PAGE_NAMES and "/" not in folder


def write_tree(root: Path, pages: Mapping[str, str]) -> None:
    """Make `root` hold exactly `pages`: project pages first, root pages next, then removals."""
    root.mkdir(parents=True, exist_ok=True)
    ordered = sorted(pages, key=lambda p: ("/" not in p, p))
    changed: list[tuple[Path, bytes]] = []
    for rel in ordered:
        path = root / rel
        data = pages[rel].encode("utf-8")
        try:
            if path.read_bytes() == data:
                continue  # unchanged: keep its mtime (and so the server's ETag)
        except OSError:
            pass
        changed.append((path, data))
    atomic_write_many(changed)  # durable together, renamed in this order
    keep = {rel.split("/", 1)[0] for rel in pages if "/" in rel}
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name not in keep:
            # only the pages this index writes: never what else is in the folder (another
            # wheelhouse nested there, say)
            for name in PAGE_NAMES:
                (entry / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                entry.rmdir()
        elif entry.is_file() and entry.name not in pages and not entry.name.startswith("."):
            entry.unlink(missing_ok=True)


def remove_orphan_metadata(wheelhouse: Wheelhouse) -> None:
    if not wheelhouse.files.is_dir():
        return
    for meta in wheelhouse.files.glob("*" + METADATA_SUFFIX):
        if not (wheelhouse.files / meta.name[: -len(METADATA_SUFFIX)]).is_file():
            meta.unlink(missing_ok=True)


def write_index(wheelhouse: Wheelhouse, records: Mapping[str, FileRecord]) -> dict[str, FileRecord]:
    """Regenerate simple/ from files/; returns the records of the files it indexed."""
    fresh, projects = collect(wheelhouse, records)
    write_tree(wheelhouse.simple, render_tree(projects))
    remove_orphan_metadata(wheelhouse)
    log.debug("index: %d projects, %d files", len(projects), len(fresh))
    return fresh

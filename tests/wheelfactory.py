"""Tiny real distributions and indexes for tests: wheels, sdists, PEP 503/691/658 trees."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def metadata_text(
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    extras: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {e}" for e in extras]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    *,
    tag: str = "py3-none-any",
    requires_python: str | None = None,
    extras: Sequence[str] = (),
    files: Mapping[str, bytes | str] | None = None,
    entry_points: str | None = None,
    record: bool = True,
    extra_entries: Mapping[str, bytes] | None = None,
    modes: Mapping[str, int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Path:
    """Build a real wheel; by default it holds `<name>/__init__.py` setting __version__.
    `headers`: more METADATA fields (License, Author, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = canonicalize_name(name).replace("-", "_")
    filename = f"{dist}-{version}-{tag}.whl"
    info = f"{dist}-{version}.dist-info"
    contents: dict[str, bytes] = {}
    for rel, data in (files or {f"{dist}/__init__.py": f"__version__ = {version!r}\n"}).items():
        contents[rel] = data.encode() if isinstance(data, str) else data
    contents[f"{info}/METADATA"] = metadata_text(
        name, version, requires, requires_python, extras, headers
    ).encode()
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: wheelfactory\nRoot-Is-Purelib: true\n"
        + "".join(f"Tag: {t}\n" for t in _expand(tag))
    ).encode()
    if entry_points:
        contents[f"{info}/entry_points.txt"] = entry_points.encode()
    contents.update(extra_entries or {})
    if record:
        rows = [f"{p},{_record_hash(d)},{len(d)}" for p, d in contents.items()]
        rows.append(f"{info}/RECORD,,")
        contents[f"{info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    path = directory / filename
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(contents):
            zi = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = (modes or {}).get(rel, 0o644) << 16
            zf.writestr(zi, contents[rel])
    return path


def _expand(tag: str) -> list[str]:
    py, abi, plat = tag.split("-")
    return [f"{a}-{b}-{c}" for a in py.split(".") for b in abi.split(".") for c in plat.split(".")]


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    *,
    metadata_version: str = "2.1",
    pyproject: str | None = None,
    requires_python: str | None = None,
    modules: Mapping[str, str] | None = None,
) -> Path:
    """An sdist (setup.py, setuptools' legacy build) whose egg-info/requires.txt names its
    requirements. Metadata 2.2 or later puts them in PKG-INFO too (static, PEP 643);
    `pyproject` is written as pyproject.toml; `modules` replace the one module it ships."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = canonicalize_name(name).replace("-", "_")
    base = f"{dist}-{version}"
    path = directory / f"{base}.tar.gz"
    static = metadata_version not in ("1.0", "1.1", "1.2", "2.0", "2.1")
    text = metadata_text(name, version, requires if static else (), requires_python)
    pkg_info = text.replace("Metadata-Version: 2.1", f"Metadata-Version: {metadata_version}")
    mods = modules or {dist: f"VERSION = {version!r}\n"}
    setup_args = f"name={name!r}, version={version!r}, py_modules={sorted(mods)!r}"
    if requires:
        setup_args += f", install_requires={list(requires)!r}"
    members = {
        f"{base}/PKG-INFO": pkg_info.encode(),
        f"{base}/setup.py": f"from setuptools import setup\nsetup({setup_args})\n".encode(),
        f"{base}/{dist}.egg-info/PKG-INFO": pkg_info.encode(),
        f"{base}/{dist}.egg-info/requires.txt": ("\n".join(requires) + "\n").encode(),
        **{f"{base}/{m}.py": code.encode() for m, code in mods.items()},
    }
    if pyproject is not None:
        members[f"{base}/pyproject.toml"] = pyproject.encode()
    with tarfile.open(path, "w:gz") as tf:
        for rel, data in members.items():
            ti = tarfile.TarInfo(rel)
            ti.size = len(data)
            ti.mtime = 1577836800
            ti.uid, ti.gid, ti.mode = 501, 20, 0o444  # a packager's, read-only (as seen on PyPI)
            tf.addfile(ti, io.BytesIO(data))
    return path


@dataclass
class IndexFile:
    path: Path
    upload_time: str | None = None  # ISO 8601, e.g. "2021-01-01T00:00:00Z"
    requires_python: str | None = None
    yanked: bool = False


@dataclass
class SimpleIndex:
    """A static PEP 503 + PEP 691 index tree under `root` with files in `root/files`."""

    root: Path
    metadata_files: bool = True  # PEP 658 .metadata beside each wheel
    json_pages: bool = True
    projects: dict[str, list[IndexFile]] = field(default_factory=dict)

    def add(
        self,
        path: Path,
        upload_time: str | None = "2021-01-01T00:00:00Z",
        requires_python: str | None = None,
        yanked: bool = False,
    ) -> None:
        name = _project_of(path.name)
        self.projects.setdefault(name, []).append(
            IndexFile(path, upload_time, requires_python, yanked)
        )

    def add_all(self, paths: Iterable[Path], **kw: object) -> None:
        for p in paths:
            self.add(p, **kw)  # type: ignore[arg-type]

    def write(self) -> Path:
        files_dir = self.root / "files"
        files_dir.mkdir(parents=True, exist_ok=True)
        simple = self.root / "simple"
        simple.mkdir(parents=True, exist_ok=True)
        names = sorted(self.projects)
        (simple / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n"
            + "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
            + "</body></html>\n"
        )
        for name in names:
            pdir = simple / name
            pdir.mkdir(exist_ok=True)
            links, jfiles = [], []
            for f in self.projects[name]:
                data = f.path.read_bytes()
                target = files_dir / f.path.name
                target.write_bytes(data)
                sha = hashlib.sha256(data).hexdigest()
                url = f"../../files/{f.path.name}"
                attrs = ""
                jf: dict[str, object] = {
                    "filename": f.path.name,
                    "url": url,
                    "hashes": {"sha256": sha},
                    "size": len(data),
                }
                if f.requires_python:
                    attrs += f' data-requires-python="{html.escape(f.requires_python)}"'
                    jf["requires-python"] = f.requires_python
                if f.yanked:
                    attrs += ' data-yanked=""'
                    jf["yanked"] = True
                if f.upload_time:
                    jf["upload-time"] = f.upload_time
                if self.metadata_files and f.path.name.endswith(".whl"):
                    meta = _wheel_metadata(f.path)
                    (files_dir / (f.path.name + ".metadata")).write_bytes(meta)
                    msha = hashlib.sha256(meta).hexdigest()
                    attrs += f' data-core-metadata="sha256={msha}"'
                    attrs += f' data-dist-info-metadata="sha256={msha}"'
                    jf["core-metadata"] = {"sha256": msha}
                    jf["dist-info-metadata"] = {"sha256": msha}
                links.append(f'<a href="{url}#sha256={sha}"{attrs}>{f.path.name}</a>')
                jfiles.append(jf)
            (pdir / "index.html").write_text(
                "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
            )
            if self.json_pages:
                (pdir / "index.json").write_text(
                    json.dumps(
                        {
                            "meta": {"api-version": "1.1"},
                            "name": name,
                            "files": jfiles,
                            "versions": [],
                        }
                    )
                )
        return simple


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return str(canonicalize_name(filename.split("-")[0]))
    base = filename[: -len(".tar.gz")] if filename.endswith(".tar.gz") else filename
    return str(canonicalize_name(base.rsplit("-", 1)[0]))


def _wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name)

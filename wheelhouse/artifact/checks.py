"""verify's checks, one function each, every one returning findings (never raising for what
it finds): the tree against its manifest and RECORD, distributions against the lock, tags
and Requires-Python, Requires-Dist of image plus artifact, imports under the target's
interpreter, and every file against the locked wheel it came from.
"""

from __future__ import annotations

import configparser
import hashlib
import posixpath
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from installer.scripts import Script
from installer.utils import parse_entrypoints
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse.artifact.compile import compile_tree
from wheelhouse.artifact.deps import DistRequires, check_requirements
from wheelhouse.artifact.destination import INSTALLER_NAME, TargetLayout, unsafe_member_reason
from wheelhouse.artifact.distinfo import TreeDist
from wheelhouse.artifact.imagecheck import Affected, affected_by, scan_image
from wheelhouse.artifact.imports import ImportOutcome, import_modules, top_level_modules
from wheelhouse.artifact.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestDist,
    ManifestFile,
    compare_tree,
    read_manifest,
)
from wheelhouse.artifact.modes import tree_mode_problems
from wheelhouse.artifact.report import Finding
from wheelhouse.artifact.wheelsource import METADATA_MEMBER
from wheelhouse.errors import IntegrityError, WheelhouseError
from wheelhouse.files import sha256_file
from wheelhouse.model.filenames import wheel_tags
from wheelhouse.model.lock import Lock
from wheelhouse.model.profile import Profile
from wheelhouse.model.pyrange import python_range
from wheelhouse.model.record import b64_digest, file_hash, read_record, sha256_text
from wheelhouse.progress import Progress
from wheelhouse.store.layout import Wheelhouse


def check_manifest(root: Path, files: Sequence[ManifestFile], lock: Lock) -> list[Finding]:
    manifest = read_manifest(root)
    if manifest is None:
        return [Finding("manifest", "error", MANIFEST_NAME, "missing: not made by install")]
    out = [Finding("manifest", "error", path, what) for path, what in compare_tree(manifest, files)]
    if manifest.python_version != lock.target.python_version:
        out.append(
            Finding(
                "manifest",
                "warning",
                MANIFEST_NAME,
                f"made for Python {manifest.python_version}, the lock targets "
                f"{lock.target.python_version}",
            )
        )
    pins = {p.name: p for p in lock.to_install()}
    for d in manifest.dists:
        pin = pins.get(canonicalize_name(d.name))
        allowed = {f.sha256 for f in pin.files} if pin is not None else set()
        if pin is not None and d.sha256 not in allowed and d.built_from not in allowed:
            out.append(
                Finding(
                    "lock",
                    "error",
                    f"{d.name} {d.version}",
                    f"installed from {d.wheel} (sha256:{d.sha256[:16]}…), "
                    "a file the lock does not allow",
                )
            )
    return out


def check_records(
    layout: TargetLayout, files: Sequence[ManifestFile], dists: Sequence[TreeDist]
) -> list[Finding]:
    by_path = {f.path: f for f in files}
    recorded: set[str] = set()
    out: list[Finding] = []
    base = layout.site_packages_rel
    for dist in dists:
        if dist.record_problem:
            out.append(Finding("files", "error", dist.label, dist.record_problem))
            continue
        if not dist.record:
            out.append(Finding("files", "error", dist.label, f"{dist.dist_info}/RECORD missing"))
            continue
        for rel, hash_text, size in dist.record:
            path = posixpath.normpath(posixpath.join(base, rel))
            if path.startswith("../") or posixpath.isabs(rel):
                out.append(Finding("files", "error", dist.label, f"RECORD row {rel!r} escapes"))
                continue
            recorded.add(path)
            found = by_path.get(path)
            if found is None:
                out.append(Finding("files", "error", path, f"missing (recorded by {dist.label})"))
            elif hash_text and not _matches(hash_text, size, found, layout.root):
                out.append(Finding("files", "error", path, f"differs from {dist.label}'s RECORD"))
            elif not hash_text and not rel.endswith(".dist-info/RECORD"):
                out.append(Finding("files", "warning", path, "has no hash in RECORD"))
    for f in files:
        if f.path not in recorded and not _is_cache_of(f.path, recorded):
            out.append(Finding("files", "error", f.path, "not recorded by any distribution"))
    return out


def _matches(hash_text: str, size: str, found: ManifestFile, root: Path) -> bool:
    if size and size != str(found.size):
        return False
    algorithm = hash_text.split("=", 1)[0]
    if algorithm == "sha256":  # the manifest has hashed it already
        return hash_text == sha256_text(found.sha256)
    return hash_text == file_hash(root / found.path, algorithm)


def _is_cache_of(path: str, recorded: set[str]) -> bool:
    """Byte-code of a recorded source file (written by --compile-with)."""
    folder, _, name = path.rpartition("/")
    if not folder.endswith("__pycache__") and folder != "__pycache__":
        return False
    if not name.endswith(".pyc"):
        return False
    source = name.split(".", 1)[0] + ".py"
    parent = folder[: -len("__pycache__")].rstrip("/")
    return (f"{parent}/{source}" if parent else source) in recorded


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def check_lock(dists: Sequence[TreeDist], lock: Lock) -> list[Finding]:
    out = []
    pins = {p.name: p for p in lock.to_install()}
    installed = {d.name: d for d in dists}
    for dist in dists:
        pin = pins.get(dist.name)
        if pin is None:
            out.append(Finding("lock", "error", dist.label, "installed but not in the lock"))
        elif not _same_version(pin.version, dist.version):
            out.append(Finding("lock", "error", dist.label, f"the lock pins {pin.version}"))
    for name, pin in sorted(pins.items()):
        if name not in installed:
            out.append(
                Finding("lock", "error", f"{name} {pin.version}", "in the lock, not installed")
            )
    return out


def check_tags_and_python(
    dists: Sequence[TreeDist], lock: Lock, target: Profile, wheels: Mapping[NormalizedName, str]
) -> list[Finding]:
    """Tags as installers judge them: by the wheel's file name (pip and uv do), falling back
    to WHEEL's Tag lines; some wheels (xgboost's) rename the file but keep stale Tag lines."""
    wanted = set(lock.target.tags)
    out = []
    for dist in dists:
        filename = wheels.get(dist.name, "")
        name_tags = wheel_tags(filename)
        if name_tags and wanted.intersection(name_tags):
            if dist.tags and not wanted.intersection(dist.tags):
                out.append(
                    Finding(
                        "tags",
                        "info",
                        dist.label,
                        f"{filename} fits the target; its WHEEL Tag lines "
                        f"({', '.join(dist.tags)}) do not, as installers ignore",
                    )
                )
        elif not dist.tags:
            out.append(Finding("tags", "error", dist.label, "WHEEL has no Tag lines"))
        elif not wanted.intersection(dist.tags):
            out.append(
                Finding(
                    "tags",
                    "error",
                    dist.label,
                    f"built for {', '.join(name_tags or dist.tags)}: none fits the target",
                )
            )
        if not target.accepts_python(dist.requires_python):
            out.append(
                Finding(
                    "python",
                    "error",
                    dist.label,
                    f"Requires-Python {dist.requires_python} excludes {lock.target.python_version}",
                )
            )
    return out


def check_image_python(dists: Sequence[TreeDist], image: Profile) -> list[Finding]:
    """The image's exact release against the artifact's Requires-Python: a lock made for the
    newest 3.7 may hold packages that need a later patch release than the image runs."""
    span = python_range(
        image.python_version, ((d.name, d.version, d.requires_python) for d in dists)
    )
    needs = span.excluding(image.python_version)
    if not needs:
        return []
    named = "; ".join(f"{x.name} {x.version} requires Python {x.requires_python}" for x in needs)
    return [
        Finding(
            "python",
            "error",
            image.name,
            f"runs Python {image.python_version}, which the artifact does not fit "
            f"(it needs {span.describe()}: {span.specifier}): {named}",
        )
    ]


def check_dependencies(
    dists: Sequence[TreeDist],
    lock: Lock,
    image: Profile | None,
    target: Profile,
    active_extras: bool = True,
) -> list[Finding]:
    out: list[Finding] = []
    present: dict[NormalizedName, DistRequires] = {}
    if image is not None:
        if image.python_minor != lock.target.python_minor:
            out.append(
                Finding(
                    "dependencies",
                    "error",
                    image.name,
                    f"the image runs Python {image.python_version}; the lock "
                    f"targets {lock.target.python_version}",
                )
            )
        elif image.digest() != lock.target.profile_digest:
            out.append(
                Finding(
                    "dependencies",
                    "info",
                    image.name,
                    f"not the profile the lock was made for ({lock.target.profile_name})",
                )
            )
        for d in image.installed:
            present[d.name] = DistRequires(d.name, d.version, d.requires_dist, "image")
        if not image.installed_requirements_known:
            out.append(
                Finding(
                    "dependencies",
                    "warning",
                    image.name,
                    "the image's own Requires-Dist are not known; only the artifact's are checked",
                )
            )
    else:
        for p in lock.image_provided():
            present[p.name] = DistRequires(p.name, p.version, None, "image")
        out.append(
            Finding(
                "dependencies",
                "info",
                "image",
                "no --image profile: the image is taken as the lock's "
                f"{len(lock.image_provided())} image-provided pins",
            )
        )
    for dist in dists:
        shadowed = present.get(dist.name)
        if shadowed is not None:
            out.append(
                Finding("overrides", "info", dist.label, f"shadows the image's {shadowed.version}")
            )
        present[dist.name] = DistRequires(dist.name, dist.version, dist.requires_dist, "artifact")
    for problem in check_requirements(list(present.values()), target, active_extras):
        out.append(Finding("dependencies", "error", problem.requirer, problem.unmet))
    return out


def check_imports(
    python: str,
    layout: TargetLayout,
    dists: Sequence[TreeDist],
    lock: Lock,
    target: Profile,
    progress: Progress | None = None,
) -> list[Finding]:
    """Every top-level module of the artifact, and of every image package that depends on a
    package the artifact shadows, imported in a fresh process with the artifact first."""
    own = top_level_modules(row[0] for d in dists for row in d.record)
    image = scan_image(python)
    mine = {d.name: d.version for d in dists}
    shadowed = {d.name for d in image if d.name in mine}
    affected = {m: a for a in affected_by(image, shadowed, target) for m in a.dist.modules}
    for m in own:
        affected.pop(m, None)  # the artifact's own copy is what gets imported
    modules = [*own, *sorted(affected)]
    run = import_modules(python, layout.site_packages, modules, progress=progress)
    out = _python_mismatch(python, run.python_version, lock)
    site = layout.site_packages.resolve()
    images = {d.name: d.version for d in image}
    for o in run.outcomes:
        if o.module in affected:
            out += _image_import(o, affected[o.module], mine, images)
        elif not o.ok:
            out.append(Finding("imports", "error", o.module, "import failed", o.error_tail))
        elif o.file and not Path(o.file).resolve().is_relative_to(site):
            out.append(
                Finding(
                    "imports", "warning", o.module, f"imported from {o.file}, not from the artifact"
                )
            )
    out.append(_import_summary(python, run.outcomes, len(own), affected, run.python_version))
    return out


def _python_mismatch(python: str, version: str, lock: Lock) -> list[Finding]:
    if version.startswith(lock.target.python_minor + "."):
        return []
    message = f"is Python {version}; the target is {lock.target.python_version}"
    return [Finding("imports", "error", python, message)]


def _image_import(
    o: ImportOutcome,
    a: Affected,
    mine: Mapping[NormalizedName, str],
    images: Mapping[NormalizedName, str],
) -> list[Finding]:
    """An image package's module: fine, or a failure naming the shadowed dependency."""
    if o.ok:
        return []
    through = f" (through {' → '.join(a.chain[1:-1])})" if len(a.chain) > 2 else ""
    return [
        Finding(
            "imports",
            "error",
            f"{a.dist.name} {a.dist.version} (image)",
            f"import {o.module} failed with the artifact's {a.shadowed} {mine[a.shadowed]} "
            f"in place of the image's {images[a.shadowed]}{through}",
            o.error_tail,
        )
    ]


def _import_summary(
    python: str,
    outcomes: Sequence[ImportOutcome],
    own: int,
    affected: Mapping[str, Affected],
    version: str,
) -> Finding:
    ok_own = sum(o.ok for o in outcomes if o.module not in affected)
    ok_image = sum(o.ok for o in outcomes if o.module in affected)
    packages = len({a.dist.name for a in affected.values()})
    image = (
        f"{ok_image}/{len(affected)} of the {packages} image package(s) that depend on "
        "what it shadows"
        if affected
        else "no image package depends on what it shadows"
    )
    return Finding(
        "imports",
        "info",
        python,
        f"{ok_own}/{own} top-level modules of the artifact imported under Python {version}, "
        f"each in a fresh process; {image}",
    )


def check_modes(root: Path) -> list[Finding]:
    """Files 0644 or 0755, folders 0755: nothing setuid, setgid, sticky or writable by others."""
    return [Finding("modes", "error", path, why) for path, why in tree_mode_problems(root)]


def list_startup_code(layout: TargetLayout, files: Sequence[ManifestFile]) -> list[Finding]:
    """Files that run code when the interpreter starts, named in every report: a
    sitecustomize/usercustomize module on the path is imported at every start; a .pth file
    runs where the folder is a site directory (not from PYTHONPATH, as the image uses it)."""
    site = layout.site_packages_rel + "/"
    out = []
    for f in files:
        top = f.path[len(site) :].split("/", 1)[0] if f.path.startswith(site) else ""
        if top.split(".", 1)[0] in ("sitecustomize", "usercustomize"):
            out.append(Finding("startup", "warning", f.path, "imported at every start of Python"))
        elif f.path.endswith(".pth"):
            out.append(
                Finding(
                    "startup",
                    "warning",
                    f.path,
                    "a .pth file: run at start-up where this folder is a site directory",
                )
            )
    return out


def check_against_wheels(
    layout: TargetLayout,
    manifest: Manifest | None,
    wheelhouse: Path,
    lock: Lock,
    files: Sequence[ManifestFile],
    python: str | None = None,
) -> list[Finding]:
    """Every installed file against the locked wheel it was installed from, and every file
    of the tree accounted for by those wheels: a file no locked wheel ships (other than the
    RECORD, INSTALLER and manifest install writes, console scripts and byte-code it makes)
    is an error, as is a script whose body is not the wheel's. Byte-code (--compile-with)
    is compiled again from the checked sources with `python` and must be the same bytes."""
    if manifest is None:
        return [Finding("wheels", "error", MANIFEST_NAME, "missing: cannot tell the wheels")]
    tally = _Tally(layout, {f.path: f for f in files})
    for d in manifest.dists:
        tally.compare(_locked_wheel(d, Wheelhouse(Path(wheelhouse)), lock, tally.out))
    tally.compare_scripts()
    tally.unaccounted(manifest.compiled_with)
    if tally.caches:
        tally.out += _compare_bytecode(layout, tally.caches, python)
    tally.out.append(
        Finding(
            "wheels",
            "info",
            "wheelhouse",
            f"{tally.checked} files compared with the locked wheels, "
            f"{len(files) - len(tally.unshipped)} of {len(files)} accounted for",
        )
    )
    return tally.out


def _locked_wheel(
    d: ManifestDist, house: Wheelhouse, lock: Lock, out: list[Finding]
) -> tuple[str, Path] | None:
    """(label, path) of the wheel a manifest entry names, if the lock allows it and the
    wheelhouse holds exactly it; else a finding and None."""
    label = f"{d.name} {d.version}"
    pin = lock.pin(d.name)
    if pin is None or not pin.installs or d.sha256 not in {f.sha256 for f in pin.files}:
        out.append(Finding("wheels", "error", label, f"{d.wheel} is not a wheel the lock allows"))
        return None
    wheel = house.files / d.wheel
    if unsafe_member_reason(d.wheel) or "/" in d.wheel or not wheel.is_file():
        out.append(Finding("wheels", "error", label, f"{d.wheel} is not in {house.root}"))
        return None
    if sha256_file(wheel) != d.sha256:
        message = f"{d.wheel} in the wheelhouse is not the file that was installed"
        out.append(Finding("wheels", "error", label, message))
        return None
    return label, wheel


# what zipfile raises for a wheel it cannot read: not a zip, encrypted, unknown compression
_UNREADABLE = (
    configparser.Error,
    zipfile.BadZipFile,
    OSError,
    EOFError,
    NotImplementedError,
    ValueError,
    RuntimeError,
    zlib.error,
)


class _Tally:
    """What the locked wheels account for, built wheel by wheel, then the rest reported."""

    def __init__(self, layout: TargetLayout, found: dict[str, ManifestFile]) -> None:
        self.layout = layout
        self.found = found
        self.shipped: set[str] = set()
        self.shebangs: dict[str, str] = {}  # first line of each rewritten script: its path
        self.out: list[Finding] = []
        self.checked = 0
        self.unshipped: list[str] = []
        self.caches: list[str] = []  # byte-code of shipped modules
        self.scripts: dict[str, tuple[str, hashlib._Hash, str]] = {}  # path: its last wheel

    def compare(self, located: tuple[str, Path] | None) -> None:
        if located is None:
            return
        label, wheel = located
        try:
            with zipfile.ZipFile(wheel) as zf:
                self._compare_wheel(label, _WheelView(zf, wheel.name))
        except _UNREADABLE as exc:
            self.out.append(Finding("wheels", "error", label, f"not a readable wheel ({exc})"))
        except IntegrityError as exc:
            self.out.append(Finding("wheels", "error", label, str(exc)))

    def _compare_wheel(self, label: str, view: _WheelView) -> None:
        site = self.layout.site_packages_rel
        for generated in ("RECORD", "INSTALLER"):
            self.shipped.add(f"{site}/{view.dist_info}/{generated}")
        self._check_installer(label, f"{site}/{view.dist_info}/INSTALLER")
        for name, text in view.console_scripts():
            self._compare_script(label, f"bin/{name}", hashlib.sha256(text), f"script {name}")
        for member, digest in view.members():
            target = _installed_path(self.layout, member)
            if target is None:
                continue
            path = target.relative_to(self.layout.root).as_posix()
            self.checked += 1
            if path.startswith("bin/") and member.split("/", 2)[1:2] == ["scripts"]:
                body = view.script_body(member)
                if body is not None:
                    self._compare_script(label, path, body, member)
                    continue
            self.shipped.add(path)
            if path not in self.found:
                self.out.append(Finding("wheels", "error", label, f"{member}: missing"))
            elif file_hash(self.layout.root / path, digest.split("=", 1)[0]) != digest:
                self.out.append(
                    Finding("wheels", "error", label, f"{member}: differs from the locked wheel")
                )

    def _check_installer(self, label: str, path: str) -> None:
        found = self.found.get(path)
        want = hashlib.sha256(f"{INSTALLER_NAME}\n".encode()).hexdigest()
        if found is not None and found.sha256 != want:
            self.out.append(Finding("wheels", "error", path, "not what install writes"))

    def _compare_script(self, label: str, path: str, body: hashlib._Hash, what: str) -> None:
        """A script install wrote with the target's shebang, judged once every wheel was
        seen: a script two wheels declare is the later one's in the lock's order, as install
        writes it (the manifest lists the wheels in that order)."""
        self.shipped.add(path)
        self.scripts[path] = (label, body, what)

    def compare_scripts(self) -> None:
        for path, (label, body, what) in sorted(self.scripts.items()):
            self._compare_one_script(label, path, body, what)

    def _compare_one_script(self, label: str, path: str, body: hashlib._Hash, what: str) -> None:
        """The rest of the script after its shebang must be the wheel's."""
        if path not in self.found:
            self.out.append(Finding("wheels", "error", label, f"{what}: missing ({path})"))
            return
        shebang, got = _split_shebang(self.layout.root / path)
        if got != body.hexdigest():
            message = f"{what}: {path} differs from what the locked wheel makes"
            self.out.append(Finding("wheels", "error", label, message))
        self.shebangs.setdefault(shebang, path)

    def unaccounted(self, compiled_with: str) -> None:
        """Every file no locked wheel ships, and scripts that disagree on their interpreter."""
        for path in sorted(self.found):
            if path in self.shipped:
                continue
            if compiled_with and _is_cache_of(path, self.shipped):
                self.caches.append(path)  # byte-code --compile-with wrote: compared below
                continue
            self.unshipped.append(path)
            self.out.append(Finding("wheels", "error", path, "not shipped by any locked wheel"))
        default = f"#!/usr/bin/env python{self.layout.python_minor}"
        if len(self.shebangs) > 1:
            lines = ", ".join(f"{p}: {s!r}" for s, p in sorted(self.shebangs.items()))
            self.out.append(
                Finding("wheels", "error", "bin", f"scripts differ in shebang: {lines}")
            )
        elif self.shebangs and default not in self.shebangs:
            (line,) = self.shebangs
            message = f"scripts start with {line!r}, not {default!r}"
            self.out.append(Finding("wheels", "warning", "bin", message))


def _compare_bytecode(layout: TargetLayout, caches: list[str], python: str | None) -> list[Finding]:
    """Byte-code runs unchecked at import (unchecked-hash pyc files): compile the tree's
    sources (already compared with the wheels) again with the target's interpreter, as
    install did, and compare every .pyc byte for byte."""
    if python is None:
        message = (
            f"{len(caches)} byte-code files not compared with their sources: give --python "
            "(the target's interpreter) to compile them again"
        )
        return [Finding("wheels", "warning", "byte-code", message)]
    site_rel = layout.site_packages_rel
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bytecode-") as tmp:
        again = TargetLayout(Path(tmp), layout.python_minor)
        for path in layout.site_packages.rglob("*.py"):
            copy = again.site_packages / path.relative_to(layout.site_packages)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
        try:
            compile_tree(python, layout.python_minor, again.site_packages)
        except WheelhouseError as exc:
            return [Finding("wheels", "error", "byte-code", f"cannot compile it again: {exc}")]
        return [
            Finding("wheels", "error", path, "byte-code differs from its source compiled again")
            for path in caches
            if not path.startswith(site_rel + "/")
            or not _same_file(layout.root / path, Path(tmp) / path)
        ]


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and a.read_bytes() == b.read_bytes()


class _WheelView:
    """What verify needs of a locked wheel: its members with RECORD hashes, the console
    scripts install generates from it, and the bodies of its .data scripts."""

    def __init__(self, zf: zipfile.ZipFile, filename: str) -> None:
        self.zf = zf
        self.filename = filename
        infos = [i for i in zf.infolist() if i.filename.count("/") == 1]
        dist_infos = {i.filename.split("/")[0] for i in infos if ".dist-info/" in i.filename}
        if len(dist_infos) != 1:
            raise IntegrityError(f"{filename}: not one .dist-info folder")
        (self.dist_info,) = dist_infos

    def _read(self, name: str) -> bytes | None:
        try:
            info = self.zf.getinfo(f"{self.dist_info}/{name}")
        except KeyError:
            return None
        if info.file_size > METADATA_MEMBER:
            raise IntegrityError(f"{self.filename}: {name} is over {METADATA_MEMBER} bytes")
        return self.zf.read(info)

    def members(self) -> list[tuple[str, str]]:
        """(member, algorithm=digest) of every file install writes as it is in the wheel."""
        rows = {p: h for p, h, _ in read_record(self._read("RECORD") or b"", self.filename)}
        out = []
        for info in self.zf.infolist():
            name = info.filename
            if info.is_dir() or name == f"{self.dist_info}/RECORD":
                continue
            if "__pycache__" in name.split("/")[:-1]:
                continue  # installer skips these
            out.append((name, rows.get(name) or self._digest(name)))
        return out

    def _digest(self, name: str) -> str:
        """RECORD's hash column for a member RECORD has no hash for (signature files)."""
        digest = hashlib.sha256()
        with self.zf.open(name) as f:
            while block := f.read(1 << 20):
                digest.update(block)
        return "sha256=" + b64_digest(digest.digest())

    def console_scripts(self) -> list[tuple[str, bytes]]:
        """(name, body after the shebang) of each script install generates."""
        text = self._read("entry_points.txt")
        if text is None:
            return []
        out = []
        for name, module, attr, section in parse_entrypoints(text.decode("utf-8", "replace")):
            _, data = Script(name, module, attr, section).generate("python", "posix")
            out.append((name, data.split(b"\n", 1)[1]))
        return out

    def script_body(self, member: str) -> hashlib._Hash | None:
        """The sha256 of a .data script after its `#!python` line (install replaces that
        line), or None for a script install copies as it is."""
        digest = hashlib.sha256()
        with self.zf.open(member) as f:
            head = f.read(8)
            if head != b"#!python":
                return None
            while (block := f.read(1 << 16)) and b"\n" not in block:
                pass
            digest.update(block.split(b"\n", 1)[1] if b"\n" in block else b"")
            while block := f.read(1 << 20):
                digest.update(block)
        return digest


def _split_shebang(path: Path) -> tuple[str, str]:
    """(first line, sha256 of the rest) of an installed script (first line cut at 4 KB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        first = f.readline(4096)
        while block := f.read(1 << 20):
            digest.update(block)
    return first.rstrip(b"\n").decode("utf-8", "replace"), digest.hexdigest()


def _installed_path(layout: TargetLayout, rel: str) -> Path | None:
    """Where install put a wheel member; None for names install would have refused."""
    if unsafe_member_reason(rel):
        return None
    first, _, rest = rel.partition("/")
    if first.endswith(".data") and rest:
        scheme, _, inner = rest.partition("/")
        base = layout.scheme_dict().get(scheme)
        return Path(base) / inner if base and inner else None
    return layout.site_packages / rel

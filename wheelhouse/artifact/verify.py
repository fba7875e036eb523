"""Prove an installed folder or artifact fits the lock and the image before it is deployed.

Checks, each reported as findings: files against RECORD and the manifest; distributions
against the lock and the target's tags; Requires-Dist of image plus artifact for the target's
markers; overrides; and, given an interpreter, that every top-level module imports.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import posixpath
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse.artifact.deps import DistRequires, check_requirements
from wheelhouse.artifact.destination import TargetLayout
from wheelhouse.artifact.imports import import_modules, top_level_modules
from wheelhouse.artifact.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestFile,
    compare_tree,
    read_manifest,
    scan_tree,
)
from wheelhouse.artifact.pack import unpack_artifact
from wheelhouse.errors import UsageError
from wheelhouse.files import sha256_file
from wheelhouse.model.filenames import wheel_tags
from wheelhouse.model.lock import Lock
from wheelhouse.model.profile import Profile

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    check: str  # files, manifest, lock, tags, python, dependencies, overrides, imports
    severity: Severity
    subject: str
    message: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        data = {"check": self.check, "severity": self.severity, "subject": self.subject}
        data["message"] = self.message
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass(frozen=True)
class VerifyReport:
    artifact: str
    python_version: str
    dists: tuple[tuple[str, str], ...]
    findings: tuple[Finding, ...]
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "artifact": self.artifact,
            "python_version": self.python_version,
            "dists": [{"name": n, "version": v} for n, v in self.dists],
            "checked": dict(self.checked),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class TreeDist:
    """What one .dist-info folder of the tree says."""

    name: NormalizedName
    version: str
    dist_info: str  # folder name
    requires_dist: tuple[str, ...]
    requires_python: str | None
    tags: tuple[str, ...]
    record: tuple[tuple[str, str, str], ...]  # rows relative to site-packages

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def verify(
    path: Path,
    lock: Lock,
    image: Profile | None = None,
    python: str | None = None,
    wheelhouse: Path | None = None,
) -> VerifyReport:
    """Verify a folder made by install, or a packed artifact (unpacked safely first).

    With `wheelhouse`, every installed file is also compared with the locked wheel it came
    from, so a tamper that also rewrote RECORD and the manifest is caught.
    """
    path = Path(path)
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="wheelhouse-verify-") as tmp:
            root = unpack_artifact(path, Path(tmp) / "tree")
            return verify_tree(root, lock, image, python, label=str(path), wheelhouse=wheelhouse)
    if not path.is_dir():
        raise UsageError(f"{path} is neither a folder nor an artifact file")
    return verify_tree(path, lock, image, python, label=str(path), wheelhouse=wheelhouse)


def verify_tree(
    root: Path,
    lock: Lock,
    image: Profile | None,
    python: str | None,
    label: str,
    wheelhouse: Path | None = None,
) -> VerifyReport:
    layout = TargetLayout(root, lock.target.python_minor)
    findings: list[Finding] = []
    site = layout.site_packages
    if not site.is_dir():
        others = sorted(p.name for p in (root / "lib").glob("python*")) if root.is_dir() else []
        raise UsageError(
            f"{label} has no {layout.site_packages_rel} for the lock's Python "
            f"{lock.target.python_version}" + (f" (found {', '.join(others)})" if others else "")
        )
    files = scan_tree(root)
    findings += _check_manifest(root, files, lock)
    dists = _read_dists(site)
    findings += _check_records(layout, files, dists)
    findings += _check_lock(dists, lock)
    target = lock.target.as_profile()
    manifest = read_manifest(root)
    wheels = {canonicalize_name(d.name): d.wheel for d in manifest.dists} if manifest else {}
    findings += _check_tags_and_python(dists, lock, target, wheels)
    findings += _check_dependencies(dists, lock, image, target)
    if wheelhouse is not None:
        findings += _check_against_wheels(layout, manifest, wheelhouse)
    if python:
        findings += _check_imports(python, layout, dists, lock)
    return VerifyReport(
        artifact=label,
        python_version=lock.target.python_version,
        dists=tuple((d.name, d.version) for d in dists),
        findings=tuple(findings),
        checked={"files": len(files), "distributions": len(dists)},
    )


# -- files -----------------------------------------------------------------------------


def _check_manifest(root: Path, files: Sequence[ManifestFile], lock: Lock) -> list[Finding]:
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
        if pin is not None and d.sha256 not in {f.sha256 for f in pin.files}:
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


def _read_dists(site: Path) -> list[TreeDist]:
    out = []
    for info in sorted(site.glob("*.dist-info")):
        meta = _headers(info / "METADATA")
        wheel = _headers(info / "WHEEL")
        record: tuple[tuple[str, str, str], ...] = ()
        if (info / "RECORD").is_file():
            with open(info / "RECORD", encoding="utf-8", newline="") as f:
                record = tuple(
                    (row[0], row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else "")
                    for row in csv.reader(f)
                    if row
                )
        name = meta.get("Name") or info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        version = meta.get("Version") or info.name[: -len(".dist-info")].rsplit("-", 1)[-1]
        out.append(
            TreeDist(
                name=canonicalize_name(name),
                version=version,
                dist_info=info.name,
                requires_dist=tuple(meta.get_all("Requires-Dist") or ()),
                requires_python=meta.get("Requires-Python"),
                tags=tuple(wheel.get_all("Tag") or ()),
                record=record,
            )
        )
    return out


def _headers(path: Path) -> Any:
    try:
        return HeaderParser().parsestr(path.read_text(encoding="utf-8"))
    except OSError:
        return HeaderParser().parsestr("")


def _record_hash(hexdigest: str) -> str:
    return "sha256=" + base64.urlsafe_b64encode(bytes.fromhex(hexdigest)).rstrip(b"=").decode()


def _check_records(
    layout: TargetLayout, files: Sequence[ManifestFile], dists: Sequence[TreeDist]
) -> list[Finding]:
    by_path = {f.path: f for f in files}
    recorded: set[str] = set()
    out: list[Finding] = []
    base = layout.site_packages_rel
    for dist in dists:
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
    if algorithm == "sha256":
        return hash_text == _record_hash(found.sha256)
    try:
        h = hashlib.new(algorithm)
    except ValueError:
        return False
    h.update((root / found.path).read_bytes())
    digest = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
    return hash_text == f"{algorithm}={digest}"


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


# -- distributions ---------------------------------------------------------------------


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _check_lock(dists: Sequence[TreeDist], lock: Lock) -> list[Finding]:
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


def _check_tags_and_python(
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


def _check_dependencies(
    dists: Sequence[TreeDist], lock: Lock, image: Profile | None, target: Profile
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
    for problem in check_requirements(list(present.values()), target):
        out.append(Finding("dependencies", "error", problem.requirer, problem.unmet))
    return out


def _check_imports(
    python: str, layout: TargetLayout, dists: Sequence[TreeDist], lock: Lock
) -> list[Finding]:
    modules = top_level_modules(row[0] for d in dists for row in d.record)
    run = import_modules(python, layout.site_packages, modules)
    out = []
    if not run.python_version.startswith(lock.target.python_minor + "."):
        out.append(
            Finding(
                "imports",
                "error",
                python,
                f"is Python {run.python_version}; the target is {lock.target.python_version}",
            )
        )
    site = str(layout.site_packages)
    for o in run.outcomes:
        if not o.ok:
            out.append(Finding("imports", "error", o.module, "import failed", o.error_tail))
        elif o.file and not o.file.startswith(site):
            out.append(
                Finding(
                    "imports", "warning", o.module, f"imported from {o.file}, not from the artifact"
                )
            )
    out.append(
        Finding(
            "imports",
            "info",
            python,
            f"{sum(o.ok for o in run.outcomes)}/{len(run.outcomes)} top-level "
            f"modules imported under Python {run.python_version}",
        )
    )
    return out


# -- the readable report ---------------------------------------------------------------


def render_text(report: VerifyReport) -> str:
    """The report for a person: failures first, then what was noted, then the verdict."""
    lines = [
        f"verify {report.artifact} for Python {report.python_version}: "
        f"{report.checked.get('distributions', 0)} distributions, "
        f"{report.checked.get('files', 0)} files"
    ]
    for severity in ("error", "warning", "info"):
        for f in (f for f in report.findings if f.severity == severity):
            lines.append(f"  {severity.upper():7} [{f.check}] {f.subject}: {f.message}")
            lines += [f"            | {line}" for line in f.detail.splitlines()]
    errors = len(report.errors())
    lines.append(
        "OK: the artifact fits the lock and the target"
        if report.ok
        else f"FAILED: {errors} problem{'s' if errors != 1 else ''}"
    )
    return "\n".join(lines) + "\n"


def _check_against_wheels(
    layout: TargetLayout, manifest: Manifest | None, wheelhouse: Path
) -> list[Finding]:
    """Every installed file against the RECORD of the locked wheel it was installed from."""
    if manifest is None:
        return [Finding("wheels", "error", MANIFEST_NAME, "missing: cannot tell the wheels")]
    out: list[Finding] = []
    checked = 0
    for d in manifest.dists:
        label = f"{d.name} {d.version}"
        wheel = Path(wheelhouse) / "files" / d.wheel
        if not wheel.is_file():
            out.append(Finding("wheels", "error", label, f"{d.wheel} is not in {wheelhouse}"))
            continue
        if sha256_file(wheel) != d.sha256:
            out.append(
                Finding(
                    "wheels",
                    "error",
                    label,
                    f"{d.wheel} in the wheelhouse is not the file that was installed",
                )
            )
            continue
        for rel, digest in _wheel_record(wheel):
            target = _installed_path(layout, rel)
            if target is None:
                continue
            checked += 1
            if not target.is_file():
                out.append(Finding("wheels", "error", label, f"{rel}: missing"))
            elif _record_digest(target, digest.split("=", 1)[0]) != digest:
                out.append(
                    Finding(
                        "wheels", "error", label, f"{rel}: differs from the locked wheel {d.wheel}"
                    )
                )
    out.append(
        Finding("wheels", "info", "wheelhouse", f"{checked} files compared with the locked wheels")
    )
    return out


def _wheel_record(wheel: Path) -> list[tuple[str, str]]:
    """(path, algorithm=digest) of every hashed RECORD row of a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
        if not names:
            return []
        text = zf.read(names[0]).decode("utf-8")
    return [(row[0], row[1]) for row in csv.reader(text.splitlines()) if len(row) > 1 and row[1]]


def _installed_path(layout: TargetLayout, rel: str) -> Path | None:
    """Where install put a wheel member; None for members install rewrites (scripts)."""
    first, _, rest = rel.partition("/")
    if first.endswith(".data") and rest:
        scheme, _, inner = rest.partition("/")
        if scheme == "scripts":
            return None  # shebangs are rewritten for the target's interpreter
        base = layout.scheme_dict().get(scheme)
        return Path(base) / inner if base else None
    return layout.site_packages / rel


def _record_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return f"{algorithm}=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()

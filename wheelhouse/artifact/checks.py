"""verify's checks, one function each, every one returning findings (never raising for what
it finds): the tree against its manifest and RECORD, distributions against the lock, tags
and Requires-Python, Requires-Dist of image plus artifact, imports under the target's
interpreter, and every file against the locked wheel it came from.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse.artifact.deps import DistRequires, check_requirements
from wheelhouse.artifact.destination import TargetLayout, unsafe_member_reason
from wheelhouse.artifact.distinfo import TreeDist
from wheelhouse.artifact.imports import import_modules, top_level_modules
from wheelhouse.artifact.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestFile,
    compare_tree,
    read_manifest,
)
from wheelhouse.artifact.report import Finding
from wheelhouse.errors import IntegrityError
from wheelhouse.files import sha256_file
from wheelhouse.model.filenames import wheel_tags
from wheelhouse.model.lock import Lock
from wheelhouse.model.profile import Profile
from wheelhouse.model.pyrange import python_range
from wheelhouse.model.record import file_hash, read_record, sha256_text
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


def check_imports(
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


def check_against_wheels(
    layout: TargetLayout, manifest: Manifest | None, wheelhouse: Path
) -> list[Finding]:
    """Every installed file against the RECORD of the locked wheel it was installed from."""
    if manifest is None:
        return [Finding("wheels", "error", MANIFEST_NAME, "missing: cannot tell the wheels")]
    house = Wheelhouse(Path(wheelhouse))
    out: list[Finding] = []
    checked = 0
    for d in manifest.dists:
        label = f"{d.name} {d.version}"
        wheel = house.files / d.wheel
        if unsafe_member_reason(d.wheel) or "/" in d.wheel or not wheel.is_file():
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
        try:
            rows = _wheel_record(wheel)
        except IntegrityError as exc:
            out.append(Finding("wheels", "error", label, str(exc)))
            continue
        for rel, digest in rows:
            target = _installed_path(layout, rel)
            if target is None:
                continue
            checked += 1
            if not target.is_file():
                out.append(Finding("wheels", "error", label, f"{rel}: missing"))
            elif file_hash(target, digest.split("=", 1)[0]) != digest:
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
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = [
                n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/RECORD")
            ]
            data = zf.read(names[0]) if len(names) == 1 else b""
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise IntegrityError(f"{wheel.name}: not a readable wheel ({exc})") from None
    return [(p, h) for p, h, _ in read_record(data, wheel.name) if h]


def _installed_path(layout: TargetLayout, rel: str) -> Path | None:
    """Where install put a wheel member; None for members install rewrites (scripts) and
    for names install would have refused."""
    if unsafe_member_reason(rel):
        return None
    first, _, rest = rel.partition("/")
    if first.endswith(".data") and rest:
        scheme, _, inner = rest.partition("/")
        if scheme == "scripts":
            return None  # shebangs are rewritten for the target's interpreter
        base = layout.scheme_dict().get(scheme)
        return Path(base) / inner if base else None
    return layout.site_packages / rel

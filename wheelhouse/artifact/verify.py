"""Prove an installed folder or artifact fits the lock and the image before it is deployed.

Checks, each reported as findings (`checks`): files against RECORD and the manifest;
distributions against the lock and the target's tags; Requires-Dist of image plus artifact
for the target's markers, active extras included; overrides; the image's exact Python
release against the artifact's Requires-Python; and, given the target's interpreter, that
every top-level module of the artifact imports, and every module of the image packages that
depend on what the artifact shadows. The report (`report`) renders them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name

from wheelhouse.artifact import checks
from wheelhouse.artifact.destination import TargetLayout
from wheelhouse.artifact.distinfo import read_dists
from wheelhouse.artifact.manifest import read_manifest, scan_tree
from wheelhouse.artifact.pack import in_artifact, unpack_artifact
from wheelhouse.artifact.report import Finding, VerifyReport
from wheelhouse.errors import UsageError
from wheelhouse.model.lock import Lock
from wheelhouse.model.profile import Profile
from wheelhouse.progress import Progress


def verify(
    path: Path,
    lock: Lock,
    image: Profile | None = None,
    python: str | None = None,
    wheelhouse: Path | str | None = None,
    progress: Progress | None = None,
    active_extras: bool = True,
) -> VerifyReport:
    """Verify a folder made by install, or a packed artifact (unpacked safely first).

    With `wheelhouse` (a folder, or az://CONTAINER/PREFIX through a local copy), every
    installed file is also compared with the locked wheel it came from, so a tamper that
    also rewrote RECORD and the manifest is caught.
    """
    path = Path(path)
    if wheelhouse is not None:
        from wheelhouse.artifact.install import lock_hashes
        from wheelhouse.net.cache import default_cache_dir
        from wheelhouse.store.copy import local_wheelhouse

        wheelhouse = local_wheelhouse(wheelhouse, default_cache_dir(), lock_hashes(lock))
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="wheelhouse-verify-") as tmp:
            # modes as the archive has them: the tree's mode check reports any it should not
            root = unpack_artifact(path, Path(tmp) / "tree", exact_modes=True)
            try:
                return verify_tree(
                    root, lock, image, python, str(path), wheelhouse, progress, active_extras
                )
            except UsageError as exc:  # name the artifact, not the temporary folder
                raise UsageError(f"{path}: {in_artifact(exc, root)}") from None
    if not path.exists():
        raise UsageError(
            f"{path} does not exist: give a folder made by install or a packed .tar.gz"
        )
    if not path.is_dir():
        raise UsageError(f"{path} is neither a folder nor an artifact file")
    return verify_tree(path, lock, image, python, str(path), wheelhouse, progress, active_extras)


def verify_tree(
    root: Path,
    lock: Lock,
    image: Profile | None,
    python: str | None,
    label: str,
    wheelhouse: Path | None = None,
    progress: Progress | None = None,
    active_extras: bool = True,
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
    findings += checks.check_modes(root)
    findings += checks.list_startup_code(layout, files)
    findings += checks.check_manifest(root, files, lock)
    dists = read_dists(site)
    findings += checks.check_records(layout, files, dists)
    findings += checks.check_lock(dists, lock)
    target = lock.target.as_profile()
    manifest = read_manifest(root)
    wheels = {canonicalize_name(d.name): d.wheel for d in manifest.dists} if manifest else {}
    findings += checks.check_tags_and_python(dists, lock, target, wheels)
    findings += checks.check_dependencies(dists, lock, image, target, active_extras)
    if image is not None:
        findings += checks.check_image_python(dists, image)
    if wheelhouse is not None:
        findings += checks.check_against_wheels(layout, manifest, wheelhouse, lock, files, python)
    if python:
        findings += checks.check_imports(python, layout, dists, lock, target, progress)
    return VerifyReport(
        artifact=label,
        python_version=lock.target.python_version,
        dists=tuple((d.name, d.version) for d in dists),
        findings=tuple(findings),
        checked={"files": len(files), "distributions": len(dists)},
    )

"""The mountable site-packages folder: plan (which wheel for each pin), install (the
installer library and our confined destination), its manifest, pack (a reproducible tar.gz)
and verify with its checks.

Imports: store (the wheelhouse it reads), model and base (interpreters runs the target's
Python).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.artifact.install import InstallOptions as InstallOptions
    from wheelhouse.artifact.install import InstallResult as InstallResult
    from wheelhouse.artifact.install import install_lock as install_lock
    from wheelhouse.artifact.manifest import Manifest as Manifest
    from wheelhouse.artifact.manifest import read_manifest as read_manifest
    from wheelhouse.artifact.pack import PackResult as PackResult
    from wheelhouse.artifact.pack import UnpackResult as UnpackResult
    from wheelhouse.artifact.pack import pack_tree as pack_tree
    from wheelhouse.artifact.pack import unpack_artifact as unpack_artifact
    from wheelhouse.artifact.pack import unpack_tree as unpack_tree
    from wheelhouse.artifact.report import Finding as Finding
    from wheelhouse.artifact.report import VerifyReport as VerifyReport
    from wheelhouse.artifact.report import render_text as render_text
    from wheelhouse.artifact.verify import verify_tree as verify_tree

_EXPORTS = {
    "install": "InstallOptions InstallResult install_lock",
    "pack": "PackResult UnpackResult pack_tree unpack_artifact unpack_tree",
    "verify": "verify_tree",
    "report": "Finding VerifyReport render_text",
    "manifest": "Manifest read_manifest",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

"""What the target needs: resolution for the target against the image's packages
(resolvelib over a small repository interface), the explanation of failures, the lock
command, and snapshots of targets.

Imports: net, model and base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.resolver.candidates import Options as Options
    from wheelhouse.resolver.locker import LockOutcome as LockOutcome
    from wheelhouse.resolver.locker import LockRequest as LockRequest
    from wheelhouse.resolver.locker import lock as lock
    from wheelhouse.resolver.locker import lock_image as lock_image
    from wheelhouse.resolver.provider import Repository as Repository
    from wheelhouse.resolver.repository import IndexRepository as IndexRepository
    from wheelhouse.resolver.resolve import Resolution as Resolution
    from wheelhouse.resolver.resolve import Resolved as Resolved
    from wheelhouse.resolver.snapshot import snapshot_docker as snapshot_docker
    from wheelhouse.resolver.snapshot import snapshot_freeze as snapshot_freeze
    from wheelhouse.resolver.snapshot import snapshot_python as snapshot_python
    from wheelhouse.resolver.snapshot import snapshot_resolved as snapshot_resolved

_EXPORTS = {
    "locker": "LockRequest LockOutcome lock lock_image",
    "resolve": "Resolution Resolved",
    "candidates": "Options",
    "provider": "Repository",
    "repository": "IndexRepository",
    "snapshot": "snapshot_python snapshot_docker snapshot_freeze snapshot_resolved",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

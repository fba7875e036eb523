"""Where a wheelhouse lives: its layout (files/, simple/, the catalog, resumable parts) and
the lock that keeps two writers apart. Mirror writes a wheelhouse; artifact and image read one.

Imports: base only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.store.layout import Wheelhouse as Wheelhouse
    from wheelhouse.store.layout import writer_lock as writer_lock

_EXPORTS = {
    "layout": "Wheelhouse writer_lock",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

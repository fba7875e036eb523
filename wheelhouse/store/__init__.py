"""Where a wheelhouse lives: its layout (files/, simple/, the catalog, resumable parts),
the lock that keeps two writers apart, and the storage it is kept on (a folder or Azure
Blob Storage, one interface). Mirror writes a wheelhouse; artifact and image read one.

Imports: base only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.store.layout import Wheelhouse as Wheelhouse
    from wheelhouse.store.layout import writer_lock as writer_lock
    from wheelhouse.store.storage import LocalStorage as LocalStorage
    from wheelhouse.store.storage import ObjectInfo as ObjectInfo
    from wheelhouse.store.storage import Storage as Storage
    from wheelhouse.store.storage import is_remote as is_remote
    from wheelhouse.store.storage import open_wheelhouse as open_wheelhouse

_EXPORTS = {
    "layout": "Wheelhouse writer_lock",
    "storage": "LocalStorage ObjectInfo Storage is_remote open_wheelhouse",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

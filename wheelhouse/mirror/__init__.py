"""Moving bytes into a wheelhouse and out of it: sync (exactly the locked files, verified),
the static simple index, serve (read-only HTTP), an nginx configuration for the same tree,
prune, and the catalog of what is there.

Imports: store, net, model and base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.mirror.catalog import FileRecord as FileRecord
    from wheelhouse.mirror.catalog import load_catalog as load_catalog
    from wheelhouse.mirror.nginx import NginxOptions as NginxOptions
    from wheelhouse.mirror.nginx import render_nginx_config as render_nginx_config
    from wheelhouse.mirror.prune import PruneReport as PruneReport
    from wheelhouse.mirror.serve import MirrorApp as MirrorApp
    from wheelhouse.mirror.serve import run_server as run_server
    from wheelhouse.mirror.serveconfig import ServeConfig as ServeConfig
    from wheelhouse.mirror.serveconfig import serve_config as serve_config
    from wheelhouse.mirror.static_index import write_index as write_index
    from wheelhouse.mirror.sync import SyncEvent as SyncEvent
    from wheelhouse.mirror.sync import SyncFailed as SyncFailed
    from wheelhouse.mirror.sync import SyncOptions as SyncOptions
    from wheelhouse.mirror.sync import SyncReport as SyncReport

_EXPORTS = {
    "sync": "SyncOptions SyncReport SyncEvent SyncFailed",
    "prune": "PruneReport",
    "static_index": "write_index",
    "serveconfig": "ServeConfig serve_config",
    "serve": "MirrorApp run_server",
    "nginx": "NginxOptions render_nginx_config",
    "catalog": "FileRecord load_catalog",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

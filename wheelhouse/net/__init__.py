"""The one way to the network: pip's configuration (index URLs, certificates, proxies,
credentials), the HTTP client factory with retries, the cache of pages and metadata, and the
one reader of PEP 503/691 pages and PEP 658 metadata.

Imports: model and base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.net.cache import Cache as Cache
    from wheelhouse.net.cache import default_cache_dir as default_cache_dir
    from wheelhouse.net.http import make_client as make_client
    from wheelhouse.net.http import with_retries as with_retries
    from wheelhouse.net.metadata import CoreMetadata as CoreMetadata
    from wheelhouse.net.metadata import MetadataFetcher as MetadataFetcher
    from wheelhouse.net.pages import DistFile as DistFile
    from wheelhouse.net.pages import parse_html_page as parse_html_page
    from wheelhouse.net.pages import parse_json_page as parse_json_page
    from wheelhouse.net.pipconfig import IndexConfig as IndexConfig
    from wheelhouse.net.pipconfig import load_index_config as load_index_config
    from wheelhouse.net.reader import IndexReader as IndexReader
    from wheelhouse.net.urls import local_path as local_path
    from wheelhouse.net.urls import redact_url as redact_url
    from wheelhouse.net.urls import strip_credentials as strip_credentials

_EXPORTS = {
    "pipconfig": "IndexConfig load_index_config",
    "http": "make_client with_retries",
    "urls": "redact_url strip_credentials local_path",
    "cache": "Cache default_cache_dir",
    "pages": "DistFile parse_json_page parse_html_page",
    "reader": "IndexReader",
    "metadata": "CoreMetadata MetadataFetcher",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

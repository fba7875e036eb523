"""`lock` as a library call over httpx's MockTransport: the index, PEP 658 metadata and the
cache without a server, and what a malformed index page becomes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.errors import NetworkError
from wheelhouse.model.profile import bare_profile
from wheelhouse.net.pages import JSON_TYPE
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.resolver.locker import LockRequest, lock

BASE = "https://index.test"


def folder_transport(root: Path, seen: list[str]) -> httpx.MockTransport:
    """A static index folder as the network: JSON pages when asked for, files as they are."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        target = root / request.url.path.lstrip("/")
        if target.is_dir():
            json_page = JSON_TYPE in request.headers.get("Accept", "")
            target = target / ("index.json" if json_page else "index.html")
            ctype = JSON_TYPE if json_page else "text/html"
        else:
            ctype = "application/octet-stream"
        if not target.is_file():
            return httpx.Response(404)
        return httpx.Response(200, content=target.read_bytes(), headers={"Content-Type": ctype})

    return httpx.MockTransport(handler)


@pytest.fixture
def indexed(tmp_path: Path) -> SimpleIndex:
    index = SimpleIndex(root=tmp_path / "index")
    index.add(make_wheel(tmp_path / "d", "alpha", "1.0", ["beta>=1"]))
    index.add(make_wheel(tmp_path / "d", "beta", "1.2"))
    index.write()
    return index


def test_lock_reads_pages_and_pep658_metadata_only(indexed: SimpleIndex, tmp_path: Path) -> None:
    seen: list[str] = []
    outcome = lock(
        LockRequest(requirements=["alpha"], output=tmp_path / "requirements.lock", cache_dir=None),
        bare_profile("3.7"),
        IndexConfig(index_url=f"{BASE}/simple"),
        transport=folder_transport(indexed.root, seen),
    )
    assert outcome.lock is not None
    assert [(p.name, p.version) for p in outcome.lock.to_install()] == [
        ("alpha", "1.0"),
        ("beta", "1.2"),
    ]
    assert all(f.url and f.url.startswith(f"{BASE}/files/") for f in outcome.lock.pins[0].files)
    # metadata came from the .metadata files: no wheel was downloaded to lock
    assert not [p for p in seen if p.endswith(".whl")]
    assert outcome.stats["pep658"] == 2


@pytest.mark.parametrize(
    ("page", "field"),
    [
        (b"{not json", "not JSON"),
        (b'{"files": {"a": 1}}', "'files' is not a list"),
        (b'{"files": [{"filename": "alpha-1.0-py3-none-any.whl"}]}', "files[0] has no filename"),
        (b'{"files": [{"filename": 1, "url": "x"}]}', "files[0].filename is int"),
        (b'{"files": [{"filename": "a-1.0.tar.gz", "url": "http://[::1/x"}]}', "files[0].url"),
        (b'{"files": [{"filename": "a.whl", "url": "x", "hashes": {"sha256": null}}]}', "hashes"),
    ],
)
def test_a_malformed_json_page_is_a_network_error_naming_the_field(
    tmp_path: Path, page: bytes, field: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=page, headers={"Content-Type": JSON_TYPE})

    with pytest.raises(NetworkError) as info:
        lock(
            LockRequest(requirements=["alpha"], output=tmp_path / "r.lock", cache_dir=None),
            bare_profile("3.7"),
            IndexConfig(index_url=f"{BASE}/simple", retries=0),
            transport=httpx.MockTransport(handler),
        )
    assert str(info.value).startswith(f"malformed index page {BASE}/simple/alpha/: ")
    assert field in str(info.value)
    assert not (tmp_path / "r.lock").exists()

"""The storage interface, on both kinds: a folder and Azure Blob Storage (Azurite)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wheelhouse.errors import IntegrityError, UsageError
from wheelhouse.store.storage import (
    LocalStorage,
    Storage,
    WriterBusy,
    open_wheelhouse,
    parse_blob_url,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(params=["local", "blob"])
def storage_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """A function making the storage under test (inside the test's event loop)."""
    if request.param == "local":
        return lambda: LocalStorage(tmp_path / "wh")
    container = request.getfixturevalue("container")
    return lambda: open_wheelhouse(f"az://{container}/some/prefix")


@pytest.mark.parametrize(
    "spec",
    [
        "az://",
        "az://AB/x",
        "az://ab/x",
        "az://a--b/x",
        "az://-ab/x",
        "az://abc/../x",
        "az://abc/x//y",
        "az://abc/x?y",
        "s3://bucket/x",
    ],
)
def test_bad_specs_are_refused_naming_them(spec: str) -> None:
    with pytest.raises(UsageError, match=re.escape(spec.split("/")[0])):
        open_wheelhouse(spec, env={"AZURE_STORAGE_CONNECTION_STRING": "x"})


def test_specs_parse() -> None:
    assert parse_blob_url("az://wheels/team/a/").prefix == "team/a"
    assert parse_blob_url("az://wheels").prefix == ""
    assert parse_blob_url("az://wheels/team").url == "az://wheels/team"
    assert isinstance(open_wheelhouse("some/folder"), LocalStorage)


def test_no_credentials_is_a_usage_error_naming_the_variables() -> None:
    with pytest.raises(UsageError, match="AZURE_STORAGE_CONNECTION_STRING"):
        open_wheelhouse("az://wheels/x", env={})


def test_repr_never_shows_the_connection_string() -> None:
    secret = "AccountKey=c2VjcmV0c2VjcmV0"
    s = open_wheelhouse("az://wheels/x", env={"AZURE_STORAGE_CONNECTION_STRING": secret})
    assert "c2VjcmV0" not in repr(s) and "c2VjcmV0" not in str(vars(s).get("url", ""))
    assert repr(s) == "BlobStorage('az://wheels/x')"


def test_put_read_list_delete(storage_factory: Callable[[], Storage], tmp_path: Path) -> None:
    src = tmp_path / "a-1.0-py3-none-any.whl"
    src.write_bytes(b"wheel bytes" * 100)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()

    async def go() -> None:
        s = storage_factory()
        try:
            assert await s.stat("files/" + src.name) is None
            assert await s.read("files/" + src.name) is None
            info = await s.put_file("files/" + src.name, src, digest)
            assert info.size == 1100
            page = await s.put_bytes("simple/a/index.html", b"<html>", content_type="text/html")
            got = await s.read("simple/a/index.html")
            assert got is not None and got.data == b"<html>" and got.info.etag == page.etag
            same = await s.read("simple/a/index.html", if_none_match=page.etag)
            assert same is not None and same.data is None
            await s.put_bytes("simple/a/index.html", b"<html>2")
            changed = await s.read("simple/a/index.html", if_none_match=page.etag)
            assert changed is not None and changed.data == b"<html>2"
            keys = [i.key for i in await s.list_objects("files/")]
            assert keys == ["files/" + src.name]
            assert [i.key for i in await s.list_objects("")] == [
                "files/" + src.name,
                "simple/a/index.html",
            ]
            stream = await s.open_read("files/" + src.name, 5, 10)
            assert stream is not None and stream.info.size == 1100 and stream.length == 10
            assert b"".join([c async for c in stream.chunks()]) == src.read_bytes()[5:15]
            tail = await s.open_read("files/" + src.name, 1000)
            assert tail is not None
            assert b"".join([c async for c in tail.chunks()]) == src.read_bytes()[1000:]
            past = await s.open_read("files/" + src.name, 5000)
            assert past is not None and [c async for c in past.chunks()] == []
            await s.delete("files/" + src.name)
            await s.delete("files/" + src.name)
            assert await s.stat("files/" + src.name) is None
        finally:
            await s.close()

    run(go())


def test_a_hash_mismatch_leaves_nothing_visible(
    storage_factory: Callable[[], Storage], tmp_path: Path
) -> None:
    src = tmp_path / "a-1.0.tar.gz"
    src.write_bytes(b"not what the lock says")

    async def go() -> None:
        s = storage_factory()
        try:
            with pytest.raises(IntegrityError, match=r"a-1\.0\.tar\.gz"):
                await s.put_file("files/a-1.0.tar.gz", src, "0" * 64)
            assert await s.stat("files/a-1.0.tar.gz") is None
            assert await s.list_objects("files/") == []
        finally:
            await s.close()

    run(go())


def test_the_writer_lock_keeps_a_second_writer_out_for_a_bounded_time(
    storage_factory: Callable[[], Storage],
) -> None:
    async def go() -> None:
        s, t = storage_factory(), storage_factory()
        try:
            async with s.writer_lock() as held:
                held.check()
                with pytest.raises(WriterBusy, match="another sync or prune"):
                    async with t.writer_lock(wait=1.5):
                        pass
            async with t.writer_lock(wait=5):
                pass
        finally:
            await s.close()
            await t.close()

    run(go())


def test_a_folder_s_lock_is_one_lock_for_sync_s_and_the_storage_s(tmp_path: Path) -> None:
    from wheelhouse.store.layout import Wheelhouse, writer_lock

    async def go() -> None:
        s = LocalStorage(tmp_path / "wh")
        async with s.writer_lock():
            busy = pytest.raises(WriterBusy, match="another sync or prune")
            with busy, writer_lock(Wheelhouse(tmp_path / "wh"), wait=0.5):
                pass
        with writer_lock(Wheelhouse(tmp_path / "wh"), wait=0):
            pass

    run(go())


def test_a_blob_lease_not_renewed_for_its_duration_is_taken_as_lost() -> None:
    from wheelhouse.store.blob import _Lease
    from wheelhouse.store.layout import WriterBusy

    now = [100.0]
    held = _Lease("az://c/wh", 60, clock=lambda: now[0])
    held.check()
    now[0] += 40  # within the lease, less its safety margin
    held.check()
    now[0] += 11  # 51 s since the last renewal: too close to the lease's end
    with pytest.raises(WriterBusy, match="not renewed for 51 s"):
        held.check()
    held.renewed_now()  # once lost, lost: another writer may have held it meanwhile
    with pytest.raises(WriterBusy):
        held.check()
    held = _Lease("az://c/wh", 60, clock=lambda: now[0])
    held.lost = "the service said no"  # as the renewer says
    with pytest.raises(WriterBusy, match="the service said no"):
        held.check()

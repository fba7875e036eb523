"""A wheelhouse in Azure Blob Storage (az://CONTAINER/PREFIX), against Azurite: sync, the
writer lock, resumed uploads, prune, and the commands that read it (install, verify, pack)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.helpers import build_wheels, config_for, make_lock, upstream, write_pylock
from wheelhouse.cli import main
from wheelhouse.errors import IntegrityError
from wheelhouse.mirror.catalog import parse_sync_stamp
from wheelhouse.mirror.prune import prune
from wheelhouse.mirror.sync import SyncEvent, SyncOptions, sync
from wheelhouse.store.blob import BLOCK, BlobStorage
from wheelhouse.store.storage import Storage, open_wheelhouse, parse_blob_url

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def tree(url: str) -> dict[str, bytes]:
    """Every object under az://… with its bytes."""

    async def read_all() -> dict[str, bytes]:
        s = open_wheelhouse(url)
        try:
            out = {}
            for info in await s.list_objects(""):
                got = await s.read(info.key)
                assert got is not None and got.data is not None
                out[info.key] = got.data
            return out
        finally:
            await s.close()

    return run(read_all())


def etags(url: str) -> dict[str, str]:
    async def listing() -> dict[str, str]:
        s = open_wheelhouse(url)
        try:
            return {i.key: i.etag for i in await s.list_objects("")}
        finally:
            await s.close()

    return run(listing())


def local_tree(root: Path, under: str) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in (root / under).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture
def two_locks(tmp_path: Path, serve: Any) -> tuple[str, Path, Path, list[Path]]:
    """An upstream index with four wheels; lock A pins two of them, lock B the other two."""
    wheels = build_wheels(tmp_path / "w", 4)
    url, _ = serve(upstream(tmp_path, wheels).root)
    a = write_pylock(tmp_path / "a" / "pylock.toml", make_lock(wheels[:2], url))
    b = write_pylock(tmp_path / "b" / "pylock.toml", make_lock(wheels[2:], url))
    return url, a, b, wheels


@pytest.fixture(autouse=True)
def _lock_dirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


def test_sync_into_blob_storage_matches_a_folder_sync(
    container: str, two_locks: tuple[str, Path, Path, list[Path]], tmp_path: Path
) -> None:
    url, a, b, wheels = two_locks
    az = f"az://{container}/team/wh"
    events: list[SyncEvent] = []
    report = sync([a, b], az, config=config_for(url), progress=events.append)
    assert report.ok, report.failed
    assert [e.count for e in events if e.kind == "plan"] == [4]
    assert {"plan", "start", "bytes", "done", "index"} <= {e.kind for e in events}
    assert report.wheelhouse == az
    assert sorted(report.downloaded) == sorted(w.name for w in wheels)
    folder = sync([a, b], tmp_path / "wh", config=config_for(url))
    assert folder.ok
    remote = tree(az)
    # when it finished, for serve's readiness (rewritten by every sync without failures)
    assert parse_sync_stamp(remote.pop("last-sync.json")) is not None
    local = local_tree(tmp_path / "wh", "simple") | local_tree(tmp_path / "wh", "files")
    # the same files, metadata and index pages, byte for byte, as a folder sync makes
    assert {k: v for k, v in remote.items() if k != "wheelhouse.json"} == local
    catalog = json.loads(remote["wheelhouse.json"])
    assert sorted(r["filename"] for r in catalog["files"]) == sorted(w.name for w in wheels)
    # nothing left staged locally: the verified copies went once committed
    from wheelhouse.mirror.remote import staging_for

    assert not list((staging_for(open_wheelhouse(az)) / "files").iterdir())
    # again: everything is there, nothing is fetched (the index URL is dead now)
    written = etags(az)
    events.clear()
    again = sync([a, b], az, config=config_for("http://127.0.0.1:9"), progress=events.append)
    assert again.ok and not again.downloaded
    assert sorted(again.skipped) == sorted(w.name for w in wheels)
    assert [e.kind for e in events] == ["plan", "skip", "skip", "skip", "skip", "index"]
    assert {k: v for k, v in tree(az).items() if k != "last-sync.json"} == remote
    # nothing rewritten but the stamp of the sync's end: what serves it keeps its cache
    fresh = etags(az)
    assert fresh.pop("last-sync.json") != written.pop("last-sync.json")
    assert fresh == written


def test_a_hash_mismatch_never_leaves_a_blob_under_files(
    container: str, tmp_path: Path, serve: Any
) -> None:
    wheels = build_wheels(tmp_path / "w", 2)
    lock = make_lock(wheels, None)
    url, _ = serve(upstream(tmp_path, wheels).root)
    # the lock vouches for other bytes than upstream has for pkg1
    (tmp_path / "w" / wheels[1].name).write_bytes(b"tampered")
    lock = make_lock(wheels, url)
    tampered = write_pylock(tmp_path / "a" / "pylock.toml", lock)
    az = f"az://{container}/wh"
    report = sync([tampered], az, config=config_for(url))
    assert not report.ok
    assert [f.exit_code for f in report.failed] == [5]
    keys = set(tree(az))
    assert f"files/{wheels[0].name}" in keys
    assert not any(wheels[1].name in k for k in keys)


def test_a_killed_sync_s_lease_does_not_block_the_next_one(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    url, a, _, _ = two_locks
    az = f"az://{container}/wh"

    async def leave_a_lease() -> None:  # what a sync killed mid-way leaves behind
        s = BlobStorage(parse_blob_url(az), env=_env(), lease_seconds=15)
        cm = s.writer_lock()
        await cm.__aenter__()
        await s.close()  # no release, no renewal: the lease runs out by itself

    run(leave_a_lease())
    report = sync([a], az, config=config_for(url))
    assert report.ok, report.failed
    assert report.downloaded


def _env() -> dict[str, str]:
    return {"AZURE_STORAGE_CONNECTION_STRING": os.environ["AZURE_STORAGE_CONNECTION_STRING"]}


def test_two_syncs_at_once_neither_corrupts(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    url, a, b, wheels = two_locks
    az = f"az://{container}/wh"
    results: dict[str, Any] = {}

    def one(name: str, lock: Path) -> None:
        try:
            results[name] = sync([lock], az, config=config_for(url))
        except Exception as exc:
            results[name] = exc

    threads = [threading.Thread(target=one, args=(n, p)) for n, p in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) and r.ok for r in results.values()), results
    remote = tree(az)
    catalog = json.loads(remote["wheelhouse.json"])
    assert sorted(r["filename"] for r in catalog["files"]) == sorted(w.name for w in wheels)
    root = remote["simple/index.html"].decode()
    assert all(f"pkg{i}/" in root for i in range(4))


def test_a_second_writer_gives_up_after_a_bounded_wait(container: str) -> None:
    az = f"az://{container}/wh"

    async def go() -> None:
        s, t = open_wheelhouse(az), open_wheelhouse(az)
        try:
            async with s.writer_lock():
                from wheelhouse.store.storage import WriterBusy

                with pytest.raises(WriterBusy, match=f"{az}: another sync or prune"):
                    async with t.writer_lock(wait=1):
                        pass
        finally:
            await s.close()
            await t.close()

    run(go())


def test_an_interrupted_large_upload_resumes_from_its_staged_blocks(
    container: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    big = tmp_path / "big-1.0.tar.gz"
    big.write_bytes(bytes(range(256)) * ((2 * BLOCK + 1000) // 256))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()

    class Cut(Exception):
        pass

    def cut_after_first_block(n: int) -> None:
        raise Cut

    async def go() -> None:
        s: Storage = open_wheelhouse(f"az://{container}/wh")
        try:
            with pytest.raises(Cut):
                await s.put_file("files/" + big.name, big, digest, progress=cut_after_first_block)
            assert await s.stat("files/" + big.name) is None  # staged, not committed
            with caplog.at_level(logging.DEBUG, logger="wheelhouse"):
                info = await s.put_file("files/" + big.name, big, digest)
            assert info.size == big.stat().st_size and info.sha256 == digest
            stream = await s.open_read("files/" + big.name)
            assert stream is not None
            got = hashlib.sha256()
            async for chunk in stream.chunks():
                got.update(chunk)
            assert got.hexdigest() == digest
        finally:
            await s.close()

    run(go())
    assert "block 0 already staged" in caplog.text


def test_a_large_upload_whose_bytes_differ_is_not_committed(container: str, tmp_path: Path) -> None:
    big = tmp_path / "big-1.0.tar.gz"
    big.write_bytes(b"x" * (BLOCK + 10))

    async def go() -> None:
        s = open_wheelhouse(f"az://{container}/wh")
        try:
            with pytest.raises(IntegrityError, match="not committed"):
                await s.put_file("files/" + big.name, big, "0" * 64)
            assert await s.stat("files/" + big.name) is None
        finally:
            await s.close()

    run(go())


def test_prune_removes_what_no_kept_lock_needs(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    url, a, b, wheels = two_locks
    az = f"az://{container}/wh"
    assert sync([a, b], az, config=config_for(url)).ok
    dry = prune(az, [a], dry_run=True)
    assert sorted(dry.removed) == sorted(w.name for w in wheels[2:])
    assert len([k for k in tree(az) if k.endswith(".whl")]) == 4
    report = prune(az, [a])
    assert sorted(report.kept) == sorted(w.name for w in wheels[:2])
    keys = set(tree(az))
    assert {k for k in keys if k.startswith("files/")} == {
        f"files/{w.name}{m}" for w in wheels[:2] for m in ("", ".metadata")
    }
    assert not any(k.startswith(("simple/pkg2/", "simple/pkg3/")) for k in keys)
    assert "pkg2" not in tree(az)["simple/index.html"].decode()


def test_sync_verify_repair_on_blob_storage(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    url, a, _, wheels = two_locks
    az = f"az://{container}/wh"
    assert sync([a], az, config=config_for(url)).ok

    async def damage() -> None:  # a blob rewritten behind wheelhouse's back
        s = open_wheelhouse(az)
        try:
            await s.put_bytes(f"files/{wheels[0].name}", b"damaged")
        finally:
            await s.close()

    run(damage())
    held = sync([a], az, config=config_for(url), options=SyncOptions(verify=True))
    assert not held.ok and held.differed == (wheels[0].name,)
    assert [f.exit_code for f in held.failed] == [5]
    fixed = sync([a], az, config=config_for(url), options=SyncOptions(verify=True, repair=True))
    assert fixed.ok and fixed.downloaded == (wheels[0].name,)
    assert tree(az)[f"files/{wheels[0].name}"] == wheels[0].read_bytes()


def test_install_verify_and_pack_from_blob_storage(
    container: str, two_locks: tuple[str, Path, Path, list[Path]], tmp_path: Path
) -> None:
    url, a, b, wheels = two_locks
    az = f"az://{container}/wh"
    argv = ["-q", "sync", str(a), str(b), "--wheelhouse", az, "-i", f"{url}/simple"]
    assert main(argv) == 0
    out = tmp_path / "out"
    assert main(["-q", "install", str(a), "--wheelhouse", az, "--target", str(out)]) == 0
    site = out / "lib" / "python3.7" / "site-packages"
    assert (site / "pkg0" / "__init__.py").is_file()
    # read through a local copy of the files lock A pins, not of the whole wheelhouse
    cache = Path(os.environ["WHEELHOUSE_CACHE_DIR"])
    copied = {p.name for p in cache.glob("copies/*/files/*")}
    assert copied == {w.name for w in wheels[:2]}
    assert main(["-q", "verify", str(out), "--lock", str(a), "--wheelhouse", az]) == 0
    artifact = f"az://{container}/artifacts/myenv.tar.gz"
    assert main(["-q", "pack", str(out), "-o", artifact]) == 0
    assert main(["-q", "pack", str(out), "-o", str(tmp_path / "local.tar.gz")]) == 0
    uploaded = tree(f"az://{container}/artifacts")
    assert uploaded == {"myenv.tar.gz": (tmp_path / "local.tar.gz").read_bytes()}


@pytest.mark.parametrize(
    ("env", "code", "words"),
    [
        ("badkey", 2, "refused the credentials"),
        ("nocontainer", 2, "has no container"),
        ("unreachable", 4, "could not be reached"),
    ],
)
def test_azure_errors_are_clear_through_the_cli(
    env: str,
    code: int,
    words: str,
    container: str,
    two_locks: tuple[str, Path, Path, list[Path]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.azurite import ACCOUNT, KEY

    url, a, _, _ = two_locks
    conn = _env()["AZURE_STORAGE_CONNECTION_STRING"]
    target = f"az://{container}/wh"
    if env == "badkey":
        other = "A" * 86 + "=="
        conn = conn.replace(KEY, other)
    elif env == "nocontainer":
        target = "az://no-such-container/wh"
    else:
        conn = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint=http://127.0.0.1:9/{ACCOUNT};"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", conn)
    assert main(["sync", str(a), "--wheelhouse", target, "-i", f"{url}/simple"]) == code
    err = capsys.readouterr().err
    assert words in err and target in err
    assert "Traceback" not in err
    assert KEY not in err and "AAAAAAAA" not in err


def test_no_credentials_through_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    lock = write_pylock(tmp_path / "a" / "pylock.toml", make_lock(build_wheels(tmp_path, 1), None))
    assert main(["prune", "--wheelhouse", "az://wheels/x", "--keep", str(lock)]) == 2
    assert "AZURE_STORAGE_CONNECTION_STRING" in capsys.readouterr().err


def test_a_bad_az_url_is_refused_by_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--wheelhouse", "az://UPPER/x", "--keep", "x.lock"]) == 2
    assert "az://UPPER/x" in capsys.readouterr().err


def test_a_held_lease_is_renewed_past_its_duration(container: str) -> None:
    az = f"az://{container}/wh"

    async def go() -> None:
        s = BlobStorage(parse_blob_url(az), env=_env(), lease_seconds=15)
        t = open_wheelhouse(az)
        try:
            async with s.writer_lock() as held:
                await asyncio.sleep(17)  # past the lease's 15 s: held only if renewed
                from wheelhouse.store.storage import WriterBusy

                with pytest.raises(WriterBusy):
                    async with t.writer_lock(wait=0):
                        pass
                held.check()
        finally:
            await s.close()
            await t.close()

    run(go())


def test_prune_of_an_empty_container_says_it_is_no_wheelhouse(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    from wheelhouse.errors import UsageError

    with pytest.raises(UsageError, match=f"az://{container}/wh is not a wheelhouse"):
        prune(f"az://{container}/wh", [two_locks[1]])


def test_an_account_url_without_azure_identity_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from wheelhouse.errors import UsageError

    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)  # as if not installed
    env = {"AZURE_STORAGE_ACCOUNT_URL": "https://example.invalid"}

    async def go() -> None:
        s = open_wheelhouse("az://wheels/x", env=env)
        try:
            await s.stat("wheelhouse.json")
        finally:
            await s.close()

    with pytest.raises(UsageError, match=r"wheelhouse\[azure-identity\]"):
        run(go())


def test_a_sync_stopped_before_its_catalog_is_taken_up_by_the_next(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    url, a, _, wheels = two_locks
    az = f"az://{container}/wh"
    assert sync([a], az, config=config_for(url)).ok
    before = tree(az)

    async def lose_the_catalog() -> None:  # as if killed between its uploads and catalog
        s = open_wheelhouse(az)
        try:
            await s.delete("wheelhouse.json")
        finally:
            await s.close()

    run(lose_the_catalog())
    again = sync([a], az, config=config_for("http://127.0.0.1:9"))  # no network needed
    assert again.ok and not again.downloaded
    after = tree(az)
    catalog = json.loads(after["wheelhouse.json"])
    assert sorted(r["filename"] for r in catalog["files"]) == sorted(w.name for w in wheels[:2])
    pages = [k for k in before if k.endswith(".html")]
    assert pages and all(after[k] == before[k] for k in pages)  # metadata and Requires-Python


def test_a_prune_paused_past_its_lease_deletes_nothing_another_sync_published(
    container: str,
    two_locks: tuple[str, Path, Path, list[Path]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The prune's event loop stalls after its index switch and before its deletes for
    longer than the lease: meanwhile another sync takes the lock and publishes an index that
    links the files the prune meant to delete. Woken, the prune must delete nothing."""
    from wheelhouse.mirror import remote

    url, a, b, wheels = two_locks
    az = f"az://{container}/wh"
    assert sync([a, b], az, config=config_for(url)).ok
    original = remote.publish_index
    stalls: list[int] = []

    def another_sync() -> None:
        async def steal() -> None:  # the stalled writer's lease ran out: break it now
            from azure.storage.blob.aio import BlobLeaseClient

            s = BlobStorage(parse_blob_url(az), env=_env())
            try:
                blob = s._client().get_blob_client(s._name(".wheelhouse-lock"))
                await BlobLeaseClient(blob).break_lease(lease_break_period=0)
            finally:
                await s.close()

        run(steal())
        assert sync([a, b], az, config=config_for(url)).ok

    async def stalled(storage: Any, state: Any, records: Any, held: Any, jobs: int) -> None:
        await original(storage, state, records, held, jobs)
        if stalls:
            return  # the other sync's own index switch
        stalls.append(1)
        t = threading.Thread(target=another_sync)
        t.start()
        t.join()  # the loop is blocked meanwhile: no renewal runs
        held.renewed -= 3600  # as if the stall had lasted an hour (no real waiting)

    monkeypatch.setattr(remote, "publish_index", stalled)
    code = main(["prune", "--wheelhouse", az, "--keep", str(a)])
    assert code == 1
    assert "writer lock" in capsys.readouterr().err
    keys = set(tree(az))
    assert {f"files/{w.name}" for w in wheels} <= keys
    assert "pkg3" in tree(az)["simple/index.html"].decode()


def test_a_wheelhouse_nested_in_another_s_folders_survives_its_prune_and_sync(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    url, a, b, _ = two_locks
    parent = f"az://{container}/nest"
    assert sync([a, b], parent, config=config_for(url)).ok
    children = [f"{parent}/files/child", f"{parent}/simple/child", f"{parent}/simple/pkg2/x"]
    for child in children:
        assert sync([b], child, config=config_for(url)).ok
    before = tree(parent)
    nested = {k: v for k, v in before.items() if k.count("/") > 2 or "/child/" in k}
    assert len(nested) > 10
    assert prune(parent, [a]).removed
    assert sync([a], parent, config=config_for(url)).ok
    after = tree(parent)
    assert {k: after.get(k) for k in nested} == nested
    for child in children:
        assert sync([b], child, config=config_for("http://127.0.0.1:9")).ok  # all there


@pytest.mark.parametrize("name", ["files", "simple"])
def test_a_wheelhouse_named_files_or_simple_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\n')
    code = main(["sync", str(lock), "--wheelhouse", f"az://wheels/nest/{name}"])
    assert code == 2
    assert f"cannot be named {name!r}" in capsys.readouterr().err
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "wheelhouse.json").write_text("{}")
    assert main(["sync", str(lock), "--wheelhouse", str(tmp_path / "wh" / name)]) == 2
    assert f"cannot be named {name!r}" in capsys.readouterr().err


def test_staging_and_copies_are_one_per_account_and_url(tmp_path: Path) -> None:
    from tests.azurite import KEY
    from wheelhouse.mirror.remote import staging_for
    from wheelhouse.store.storage import local_key

    def conn(account: str, host: str) -> dict[str, str]:
        return {
            "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName="
            f"{account};AccountKey={KEY};BlobEndpoint=http://{host}:10000/{account};"
        }

    where = parse_blob_url("az://wheels/team")
    one = BlobStorage(where, env=conn("acct1", "127.0.0.1"))
    same = BlobStorage(where, env=conn("acct1", "127.0.0.1"))
    other = BlobStorage(where, env=conn("acct2", "127.0.0.1"))
    elsewhere = BlobStorage(where, env=conn("acct1", "10.0.0.1"))
    assert staging_for(one) == staging_for(same)
    assert len({staging_for(s) for s in (one, other, elsewhere)}) == 3
    assert len({local_key(s) for s in (one, other, elsewhere)}) == 3
    assert one.account == "http://127.0.0.1:10000/acct1 (acct1)"
    assert KEY not in one.account and KEY[:10] not in repr(one)


def test_a_sync_holds_a_local_lock_on_its_staging_folder(
    container: str, two_locks: tuple[str, Path, Path, list[Path]]
) -> None:
    from wheelhouse.mirror.remote import staging_for
    from wheelhouse.store.layout import Wheelhouse, WriterBusy, writer_lock

    url, a, _, _ = two_locks
    az = f"az://{container}/wh"
    staging = staging_for(open_wheelhouse(az))
    seen: list[str] = []

    def progress(event: SyncEvent) -> None:
        if event.kind == "start" and not seen:  # mid-sync: a second local run is kept out
            try:
                with writer_lock(Wheelhouse(staging), wait=0):
                    seen.append("free")
            except WriterBusy:
                seen.append("held")

    assert sync([a], az, config=config_for(url), progress=progress).ok
    assert seen == ["held"]
    with writer_lock(Wheelhouse(staging), wait=0):  # and free once it is done
        pass

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    build_wheels,
    config_for,
    make_lock,
    upstream,
    write_pylock,
    write_requirements,
)
from tests.localserver import Fault
from wheelhouse.mirror.sync import SyncEvent, SyncOptions, sync
from wheelhouse.store.layout import Wheelhouse


def _range(headers: dict[str, str]) -> str | None:
    return {k.lower(): v for k, v in headers.items()}.get("range")


def _files(wh: Path) -> list[str]:
    return sorted(p.name for p in (wh / "files").iterdir() if not p.name.endswith(".metadata"))


def test_sync_pylock_downloads_verifies_and_indexes(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    events: list[SyncEvent] = []
    report = sync([lock], tmp_path / "wh", config=config_for(url), progress=events.append)
    assert report.ok, report.failed
    assert sorted(report.downloaded) == sorted(w.name for w in wheels)
    assert _files(tmp_path / "wh") == sorted(w.name for w in wheels)
    for w in wheels:
        assert (tmp_path / "wh" / "files" / w.name).read_bytes() == w.read_bytes()
        assert (tmp_path / "wh" / "files" / (w.name + ".metadata")).is_file()
    assert (tmp_path / "wh" / "simple" / "pkg0" / "index.html").is_file()
    assert not list((tmp_path / "wh" / ".partial").iterdir())
    kinds = {e.kind for e in events}
    assert {"plan", "start", "bytes", "done", "index"} <= kinds


def test_requirements_lock_without_urls_looks_files_up_on_the_index(
    tmp_path: Path, serve: Any
) -> None:
    wheels = build_wheels(tmp_path / "w", 2)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_requirements(tmp_path / "requirements.lock", make_lock(wheels, None))
    report = sync([lock], tmp_path / "wh", config=config_for(url))
    assert report.ok, report.failed
    assert _files(tmp_path / "wh") == sorted(w.name for w in wheels)
    again = sync([lock], tmp_path / "wh", config=config_for("http://127.0.0.1:9"))
    assert again.ok and not again.downloaded  # answered from the manifest, no network


def test_second_sync_of_100_files_is_fast_and_offline(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 100)
    url, state = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    assert sync([lock], tmp_path / "wh", config=config_for(url), options=SyncOptions(jobs=8)).ok
    before = len(state.requests)
    t0 = time.perf_counter()
    again = sync([lock], tmp_path / "wh", config=config_for(url))
    elapsed = time.perf_counter() - t0
    assert again.ok and len(again.skipped) == 100 and not again.downloaded
    assert len(state.requests) == before
    assert elapsed < 1.0, elapsed


def test_fail_then_succeed_is_retried(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 2)
    url, state = serve(upstream(tmp_path, wheels).root)
    state.faults[f"/files/{wheels[0].name}"] = Fault([503, 429, "ok"])
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    report = sync([lock], tmp_path / "wh", config=config_for(url))
    assert report.ok, report.failed
    assert _files(tmp_path / "wh") == sorted(w.name for w in wheels)


def test_stall_times_out_then_retry_succeeds(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 1)
    url, state = serve(upstream(tmp_path, wheels).root)
    state.faults[f"/files/{wheels[0].name}"] = Fault(["stall", "ok"], stall_seconds=3)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    t0 = time.perf_counter()
    report = sync([lock], tmp_path / "wh", config=config_for(url, timeout=0.5))
    assert report.ok, report.failed
    assert time.perf_counter() - t0 < 3


def test_persistent_failure_reported_others_kept(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, state = serve(upstream(tmp_path, wheels).root)
    state.faults[f"/files/{wheels[1].name}"] = Fault([500])
    state.faults[f"/files/{wheels[2].name}"] = Fault(["stall"], stall_seconds=2)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    report = sync([lock], tmp_path / "wh", config=config_for(url, retries=1, timeout=0.3))
    assert not report.ok
    assert [f.what for f in report.failed] == [wheels[1].name, wheels[2].name]
    assert "HTTP 500" in report.failed[0].message
    assert _files(tmp_path / "wh") == [wheels[0].name]


def test_cut_connection_resumes_with_range(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 1, size=400_000)
    url, state = serve(upstream(tmp_path, wheels).root)
    path = f"/files/{wheels[0].name}"
    state.faults[path] = Fault(["cut", "ok"])
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    report = sync([lock], tmp_path / "wh", config=config_for(url))
    assert report.ok, report.failed
    gets = [_range(h) for m, p, h in state.requests if p == path]
    assert len(gets) == 2 and gets[0] is None
    assert gets[1] is not None and gets[1].startswith("bytes=") and gets[1] != "bytes=0-"
    assert (tmp_path / "wh" / "files" / wheels[0].name).read_bytes() == wheels[0].read_bytes()


def test_corrupt_bytes_are_a_mismatch_and_never_kept(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 1)
    url, state = serve(upstream(tmp_path, wheels).root)
    state.faults[f"/files/{wheels[0].name}"] = Fault(["corrupt"])
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    report = sync([lock], tmp_path / "wh", config=config_for(url))
    assert not report.ok
    (failure,) = report.failed
    expected = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    assert wheels[0].name in failure.message and expected in failure.message
    assert "received sha256:" in failure.message and failure.exit_code == 5
    assert _files(tmp_path / "wh") == []
    assert list((tmp_path / "wh" / ".partial").iterdir()) == []


def test_stale_part_is_resumed_and_bad_part_replaced(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 2, size=100_000)
    url, state = serve(upstream(tmp_path, wheels).root)
    lock = make_lock(wheels, url)
    wh = Wheelhouse(tmp_path / "wh")
    good = wheels[0].read_bytes()
    part0 = wh.part(wheels[0].name, lock.pins[0].files[0].sha256)
    part0.parent.mkdir(parents=True)
    part0.write_bytes(good[: len(good) // 3])  # a kill mid-download left this
    part1 = wh.part(wheels[1].name, lock.pins[1].files[0].sha256)
    part1.write_bytes(b"garbage" * 1000)  # not a prefix of the file
    report = sync([write_pylock(tmp_path / "pylock.toml", lock)], wh.root, config=config_for(url))
    assert report.ok, report.failed
    ranged = [_range(h) for m, p, h in state.requests if p == f"/files/{wheels[0].name}"]
    assert ranged == [f"bytes={len(good) // 3}-"]
    assert _files(wh.root) == sorted(w.name for w in wheels)
    assert (wh.files / wheels[1].name).read_bytes() == wheels[1].read_bytes()


def test_tampered_file_is_detected_and_replaced(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 1)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    assert sync([lock], tmp_path / "wh", config=config_for(url)).ok
    target = tmp_path / "wh" / "files" / wheels[0].name
    target.write_bytes(b"x" + target.read_bytes()[1:])
    report = sync([lock], tmp_path / "wh", config=config_for(url))
    assert report.downloaded == (wheels[0].name,)
    assert target.read_bytes() == wheels[0].read_bytes()


def test_several_locks_share_files(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, _ = serve(upstream(tmp_path, wheels).root)
    a = write_pylock(tmp_path / "pylock.a.toml", make_lock(wheels[:2], url))
    b = write_pylock(tmp_path / "pylock.b.toml", make_lock(wheels[1:], url))
    report = sync([a, b], tmp_path / "wh", config=config_for(url))
    assert report.ok and len(report.downloaded) == 3
    manifest = json.loads((tmp_path / "wh" / "wheelhouse.json").read_text())
    assert [f["filename"] for f in manifest["files"]] == sorted(w.name for w in wheels)
    assert manifest["files"][0]["upload_time"] == "2021-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("jobs", [1, 4])
def test_jobs_bound(tmp_path: Path, serve: Any, jobs: int) -> None:
    wheels = build_wheels(tmp_path / "w", 6)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    assert sync([lock], tmp_path / "wh", config=config_for(url), options=SyncOptions(jobs=jobs)).ok


def test_hash_only_lock_picks_the_targets_wheel_from_an_html_only_index(
    tmp_path: Path, serve: Any
) -> None:
    from packaging.utils import canonicalize_name

    from tests.wheelfactory import SimpleIndex, make_wheel
    from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
    from wheelhouse.model.profile import bare_profile

    folder = tmp_path / "w"
    w37 = make_wheel(folder, "native", "1.0", tag="cp37-cp37m-manylinux2014_x86_64")
    w311 = make_wheel(folder, "native", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    idx = SimpleIndex(root=tmp_path / "up", json_pages=False, metadata_files=False)
    idx.add_all([w37, w311])
    idx.write()
    url, _ = serve(idx.root)
    files = tuple(
        LockedFile(filename="", hashes={"sha256": hashlib.sha256(w.read_bytes()).hexdigest()})
        for w in (w37, w311)
    )
    pin = Pin(name=canonicalize_name("native"), version="1.0", files=files)
    locks = []
    for python, folder_name in (("3.7", "l37"), ("3.11", "l311")):
        target = LockTarget.from_profile(bare_profile(python, "manylinux2014_x86_64"))
        lock = Lock(target=target, pins=(pin,), input_digest=python)
        (tmp_path / folder_name).mkdir()
        locks.append(write_requirements(tmp_path / folder_name / "requirements.lock", lock))
    report = sync(locks[:1], tmp_path / "wh", config=config_for(url))
    assert report.ok, report.failed
    assert _files(tmp_path / "wh") == [w37.name]
    report = sync(locks, tmp_path / "wh", config=config_for(url))
    assert report.ok and report.downloaded == (w311.name,)
    assert _files(tmp_path / "wh") == sorted([w37.name, w311.name])


def test_hash_not_on_index_is_reported(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 2)
    url, _ = serve(upstream(tmp_path, wheels[:1]).root)
    lock = write_requirements(tmp_path / "requirements.lock", make_lock(wheels, None))
    report = sync([lock], tmp_path / "wh", config=config_for(url))
    (failure,) = report.failed
    assert failure.what == "pkg1==1.0" and "no file of pkg1==1.0" in failure.message
    assert failure.exit_code == 5  # the index and the lock disagree: integrity

"""sync's download paths without a server (httpx's MockTransport): resuming a part with a
Range request, and what it does when the server answers Range wrongly or refuses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import build_wheels, make_lock, write_pylock
from wheelhouse.mirror.sync import SyncOptions, SyncReport, sync
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.store.layout import Wheelhouse

BASE = "https://upstream.test"


class Upstream:
    """Serves one wheel; `mode` says how it answers a Range request."""

    def __init__(self, data: bytes, mode: str = "honest") -> None:
        self.data, self.mode = data, mode
        self.ranges: list[str | None] = []
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        rng = request.headers.get("Range")
        self.ranges.append(rng)
        if self.statuses:
            return httpx.Response(self.statuses.pop(0), headers={"Retry-After": "0"})
        m = re.match(r"bytes=(\d+)-$", rng or "")
        if not m or self.mode == "ignores-range":
            return httpx.Response(200, stream=httpx.ByteStream(self.data))
        start = int(m.group(1))
        if self.mode == "416":
            self.mode = "honest"
            return httpx.Response(416)
        if self.mode == "wrong-offset":
            self.mode = "honest"
            start = 0
        body = self.data[start:]
        crange = f"bytes {start}-{len(self.data) - 1}/{len(self.data)}"
        headers = {"Content-Range": crange}
        return httpx.Response(206, stream=httpx.ByteStream(body), headers=headers)


@dataclass
class World:
    lock: Path  # a pylock.toml pinning the wheel at BASE
    root: Path  # the wheelhouse
    data: bytes  # the wheel's bytes
    final: Path  # where the wheel lands
    part: Path  # where its download resumes from


def setup(tmp_path: Path, part: bytes = b"") -> World:
    (wheel,) = build_wheels(tmp_path / "w", 1, size=50_000)
    locked = make_lock([wheel], BASE)
    wh = Wheelhouse(tmp_path / "wh")
    world = World(
        lock=write_pylock(tmp_path / "pylock.toml", locked),
        root=wh.root,
        data=wheel.read_bytes(),
        final=wh.file(wheel.name),
        part=wh.part(wheel.name, locked.pins[0].files[0].sha256),
    )
    if part:
        world.part.parent.mkdir(parents=True)
        world.part.write_bytes(part)
    return world


def run(lock: Path, root: Path, upstream: Upstream, retries: int = 2) -> SyncReport:
    config = IndexConfig(index_url=f"{BASE}/simple", retries=retries)
    return sync(
        [lock],
        root,
        config=config,
        options=SyncOptions(jobs=1),
        transport=httpx.MockTransport(upstream),
    )


@pytest.mark.parametrize("mode", ["honest", "ignores-range", "416", "wrong-offset"])
def test_a_part_is_resumed_or_restarted_and_the_file_verifies(tmp_path: Path, mode: str) -> None:
    (wheel,) = build_wheels(tmp_path / "peek", 1, size=50_000)  # the same bytes as setup's
    world = setup(tmp_path, part=wheel.read_bytes()[:20_000])
    upstream = Upstream(world.data, mode)
    assert run(world.lock, world.root, upstream).ok, upstream.ranges
    assert world.final.read_bytes() == world.data
    assert upstream.ranges[0] == "bytes=20000-"
    assert not list(world.part.parent.iterdir())


def test_a_part_that_is_not_a_prefix_is_downloaded_afresh(tmp_path: Path) -> None:
    world = setup(tmp_path, part=b"garbage" * 100)
    upstream = Upstream(world.data)
    assert run(world.lock, world.root, upstream).ok
    assert world.final.read_bytes() == world.data
    assert upstream.ranges == ["bytes=700-", None]  # resumed, failed the hash, afresh


def test_a_refusal_is_not_retried_and_a_transient_error_is(tmp_path: Path) -> None:
    world = setup(tmp_path)
    upstream = Upstream(world.data)
    upstream.statuses = [403]
    report = run(world.lock, world.root, upstream)
    (failure,) = report.failed
    assert failure.exit_code == 4 and "HTTP 403" in failure.message
    assert len(upstream.ranges) == 1
    upstream.statuses = [503, 503]
    assert run(world.lock, world.root, upstream).ok
    assert world.final.read_bytes() == world.data

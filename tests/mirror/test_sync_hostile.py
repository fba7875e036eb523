"""sync against a hostile upstream (httpx's MockTransport): every download bounded by the
lock's size or the ceiling, gzip undone a bounded piece at a time, header values that are
no numbers, redirect loops and corrupt bodies: failures with the project's exit codes, no
traceback, nothing in files/."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.helpers import build_wheels, make_lock, write_pylock
from wheelhouse.mirror.sync import SyncOptions, SyncReport, sync
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.store.layout import Wheelhouse

BASE = "https://upstream.test"


def _world(tmp_path: Path, sized: bool = True) -> tuple[Path, Path, bytes, str]:
    """(lock, wheelhouse, the wheel's bytes, its name); the lock gives its size or not."""
    (wheel,) = build_wheels(tmp_path / "w", 1, size=800)
    lock = make_lock([wheel], BASE)
    if not sized:
        pins = tuple(
            replace(p, files=tuple(replace(f, size=None) for f in p.files)) for p in lock.pins
        )
        lock = replace(lock, pins=pins)
    return (
        write_pylock(tmp_path / "pylock.toml", lock),
        tmp_path / "wh",
        wheel.read_bytes(),
        wheel.name,
    )


def _sync(lock: Path, root: Path, handler: object, **options: object) -> SyncReport:
    return sync(
        [lock],
        root,
        config=IndexConfig(index_url=f"{BASE}/simple", retries=2),
        options=SyncOptions(jobs=1, **options),  # type: ignore[arg-type]
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


class Endless(httpx.AsyncByteStream):
    """A body that never ends (counts what was taken)."""

    def __init__(self, block: bytes) -> None:
        self.block, self.sent = block, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < 1 << 30:  # a bound for the test itself: 1 GiB
            self.sent += len(self.block)
            yield self.block


def _nothing_in_files(root: Path) -> bool:
    files = Wheelhouse(root).files
    return not files.exists() or not [p for p in files.iterdir() if p.suffix == ".whl"]


def test_more_bytes_than_the_lock_gives_are_cut_off_at_its_size(tmp_path: Path) -> None:
    lock, root, data, _ = _world(tmp_path)
    body = Endless(b"x" * 65536)
    report = _sync(lock, root, lambda r: httpx.Response(200, stream=body))
    (failure,) = report.failed
    assert failure.exit_code == 5 and f"more than the {len(data)} bytes the lock gives" in (
        failure.message
    )
    assert report.bytes_downloaded <= len(data) and body.sent <= 3 * 65536  # one read past
    assert _nothing_in_files(root)


def test_a_content_length_over_the_size_is_refused_before_reading(tmp_path: Path) -> None:
    lock, root, _, _ = _world(tmp_path)
    body = Endless(b"x" * 65536)
    headers = {"Content-Length": str(10**12)}
    report = _sync(lock, root, lambda r: httpx.Response(200, headers=headers, stream=body))
    assert report.failed[0].exit_code == 5 and body.sent <= 65536


def test_a_gzip_bomb_is_undone_a_bounded_piece_at_a_time(tmp_path: Path) -> None:
    lock, root, data, _ = _world(tmp_path)
    bomb = gzip.compress(b"\0" * (200 << 20), compresslevel=9)  # 200 MB in about 200 KB
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Accept-Encoding", ""))
        headers = {"Content-Encoding": "gzip"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(bomb))

    report = _sync(lock, root, handler)
    assert seen == ["identity"]  # it was not asked for
    (failure,) = report.failed
    assert failure.exit_code == 5 and "cut off" in failure.message
    assert report.bytes_downloaded <= len(data)
    assert _nothing_in_files(root)


def test_without_a_size_in_the_lock_the_ceiling_bounds_it(tmp_path: Path) -> None:
    lock, root, data, _ = _world(tmp_path, sized=False)
    body = Endless(b"y" * 65536)
    report = _sync(lock, root, lambda r: httpx.Response(200, stream=body), max_file_size=1 << 20)
    (failure,) = report.failed
    assert failure.exit_code == 4 and "larger than 1048576 bytes" in failure.message
    assert "--max-file-size" in failure.message and body.sent <= (1 << 20) + 3 * 65536
    ok = _sync(lock, tmp_path / "wh2", lambda r: httpx.Response(200, content=data))
    assert ok.ok  # the right bytes, within the ceiling


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "1e999", "Thu, 01 Jan 2099 00:00:00", "x"])
def test_retry_after_that_is_no_delay_is_ignored(tmp_path: Path, value: str) -> None:
    lock, root, data, _ = _world(tmp_path)
    answers = [
        httpx.Response(503, headers={"Retry-After": value}),
        httpx.Response(200, content=data),
    ]
    report = _sync(lock, root, lambda r: answers.pop(0))
    assert report.ok, report.failed


def test_a_redirect_loop_fails_at_once_as_a_network_error(tmp_path: Path) -> None:
    lock, root, _, _ = _world(tmp_path)
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(302, headers={"Location": str(request.url)})

    (failure,) = _sync(lock, root, handler).failed
    assert failure.exit_code == 4 and "redirects" in failure.message.lower()
    assert len(calls) == 21  # httpx's 20 redirects, once: not retried


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_corrupt_compressed_body_is_a_network_error(tmp_path: Path, coding: str) -> None:
    lock, root, data, _ = _world(tmp_path)
    packed = gzip.compress(data) if coding == "gzip" else zlib.compress(data)
    broken = packed[:20] + b"\xff" * 40 + packed[60:]
    headers = {"Content-Encoding": coding}
    (failure,) = _sync(
        lock, root, lambda r: httpx.Response(200, headers=headers, content=broken)
    ).failed
    assert failure.exit_code in (4, 5) and "Traceback" not in failure.message


def test_an_unknown_encoding_is_refused(tmp_path: Path) -> None:
    lock, root, data, _ = _world(tmp_path)
    headers = {"Content-Encoding": "br"}
    (failure,) = _sync(
        lock, root, lambda r: httpx.Response(200, headers=headers, content=data)
    ).failed
    assert failure.exit_code == 4 and "unsupported content-encoding 'br'" in failure.message


def test_an_unsupported_scheme_fails_at_once(tmp_path: Path) -> None:
    (wheel,) = build_wheels(tmp_path / "w", 1)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock([wheel], "ftp://upstream.test"))
    report = sync([lock], tmp_path / "wh", config=IndexConfig(retries=3), options=SyncOptions())
    (failure,) = report.failed
    assert failure.exit_code == 4 and "ftp" in failure.message


class CutAfter(httpx.AsyncByteStream):
    """The first `n` bytes, then a dropped connection."""

    def __init__(self, data: bytes, n: int) -> None:
        self.data, self.n = data, n

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data[: self.n]
        raise httpx.ReadError("connection reset")


def test_a_resume_that_yields_wrong_bytes_restarts_the_file_from_zero(tmp_path: Path) -> None:
    lock, root, data, _ = _world(tmp_path)
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        rng = request.headers.get("Range")
        ranges.append(rng)
        if len(ranges) == 1:
            return httpx.Response(200, stream=CutAfter(data, 300))
        m = re.match(r"bytes=(\d+)-$", rng or "")
        if m:  # a resume from a server whose file changed: wrong bytes, right length
            start = int(m.group(1))
            body = b"z" * (len(data) - start)
            crange = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return httpx.Response(206, headers={"Content-Range": crange}, content=body)
        return httpx.Response(200, content=data)

    report = _sync(lock, root, handler)
    assert report.ok, report.failed
    assert ranges == [None, "bytes=300-", None]  # cut, resumed (wrong), afresh from zero
    (landed,) = Wheelhouse(root).files.glob("*.whl")
    assert landed.read_bytes() == data


def test_wrong_bytes_twice_count_as_failed_once_restarted(tmp_path: Path) -> None:
    lock, root, data, _ = _world(tmp_path)
    calls: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("Range"))
        if len(calls) == 1:
            return httpx.Response(200, stream=CutAfter(data, 300))
        if calls[-1]:  # the resume: the right length, wrong bytes
            crange = f"bytes 300-{len(data) - 1}/{len(data)}"
            body = b"w" * (len(data) - 300)
            return httpx.Response(206, headers={"Content-Range": crange}, content=body)
        return httpx.Response(200, content=b"w" * len(data))  # afresh: wrong again

    (failure,) = _sync(lock, root, handler).failed
    assert failure.exit_code == 5 and "hash mismatch" in failure.message
    assert calls == [None, "bytes=300-", None]
    assert _nothing_in_files(root)

"""The repository's background loop ends cleanly: nothing left pending when it closes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.localserver import Fault
from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.net.cache import Cache
from wheelhouse.net.pipconfig import IndexConfig
from wheelhouse.resolver.repository import IndexRepository


def test_close_cancels_prefetches_still_in_flight(
    index: SimpleIndex, tmp_path: Path, serve: Any
) -> None:
    index.add(make_wheel(tmp_path / "d", "slow", "1.0"))
    index.write()
    url, state = serve(index.root)
    state.faults["/simple/slow/"] = Fault(["stall"], stall_seconds=3.0)
    repo = IndexRepository(IndexConfig(index_url=f"{url}/simple"), Cache(None))
    repo.prefetch(["slow"], lambda files: files[0] if files else None)  # type: ignore[list-item]
    deadline = time.monotonic() + 5
    while not state.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    repo.close()
    assert time.monotonic() - started < 2  # not waiting for the stalled page
    # a task left pending here is what printed "Task was destroyed but it is pending!"
    assert repo.reader._pages and all(t.done() for t in repo.reader._pages.values())

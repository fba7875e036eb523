"""`sync --json`: one summary a scheduler can alert on, with the process's exit code, also
when the run fails or stops early; its keys are the README's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import build_wheels, make_lock, upstream, write_pylock
from tests.localserver import Fault
from wheelhouse.cli import main

README = Path(__file__).parents[2] / "README.md"


def _sync_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main(["sync", *argv, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def _documented_keys() -> set[str]:
    text = README.read_text()
    table = text.split("**`sync --json`**", 1)[1].split("\n\n", 2)[1]
    keys: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            keys |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return keys


def test_a_good_run(tmp_path: Path, serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    wh = tmp_path / "wh"
    code, summary, _ = _sync_json([str(lock), "--wheelhouse", str(wh)], capsys)
    assert code == 0
    assert set(summary) == _documented_keys()
    assert summary["format"] == 1
    assert (summary["ok"], summary["exit_code"], summary["error"]) == (True, 0, None)
    assert summary["locks"] == [str(lock)]
    assert summary["counts"] == {
        "downloaded": 3,
        "present": 0,
        "failed": 0,
        "built": 0,
        "reused": 0,
        "verified": 0,
        "differed": 0,
        "indexed": 3,
    }
    assert summary["failures"] == [] and summary["bytes_downloaded"] > 0
    code, again, _ = _sync_json([str(lock), "--wheelhouse", str(wh)], capsys)
    assert code == 0 and again["counts"]["present"] == 3 and again["counts"]["downloaded"] == 0


def test_failed_files_are_named_and_the_exit_code_is_the_processs(
    tmp_path: Path, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, state = serve(upstream(tmp_path, wheels).root)
    state.faults[f"/files/{wheels[0].name}"] = Fault([404])
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    code, summary, err = _sync_json([str(lock), "--wheelhouse", str(tmp_path / "wh")], capsys)
    assert code == 4 == summary["exit_code"]  # one kind of failure: the network's
    assert summary["ok"] is False and summary["error"] is None
    assert summary["counts"]["failed"] == 1 and summary["counts"]["downloaded"] == 2
    [failure] = summary["failures"]
    assert failure["name"] == "pkg0" and failure["file"] == wheels[0].name
    assert "HTTP 404" in failure["reason"] and failure["exit_code"] == 4
    assert "1 file(s) failed" in err

    state.faults[f"/files/{wheels[1].name}"] = Fault(["corrupt"])
    code, summary, _ = _sync_json([str(lock), "--wheelhouse", str(tmp_path / "wh2")], capsys)
    assert code == 1 == summary["exit_code"]  # network and integrity: mixed kinds
    assert [(f["file"], f["exit_code"]) for f in summary["failures"]] == [
        (wheels[0].name, 4),
        (wheels[1].name, 5),
    ]


def test_a_run_stopped_before_syncing_still_writes_its_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "pylock.toml"
    bad.write_text("lock-version = [\n")
    code, summary, err = _sync_json([str(bad), "--wheelhouse", str(tmp_path / "wh")], capsys)
    assert code == 2 == summary["exit_code"]
    assert summary["ok"] is False and "not valid TOML" in summary["error"]
    assert set(summary) == _documented_keys()
    assert summary["counts"]["downloaded"] == 0 and summary["failures"] == []
    assert "error: " in err

    wheels = build_wheels(tmp_path / "w", 1)
    lock = write_pylock(tmp_path / "pylock.ok.toml", make_lock(wheels, "http://127.0.0.1:9"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, summary, _ = _sync_json([str(lock), "--wheelhouse", str(blocker / "wh")], capsys)
    assert code == summary["exit_code"] == 1  # a folder that cannot be made: an OSError
    assert summary["ok"] is False and "a-file" in summary["error"]

"""The commands end to end through wheelhouse.cli.main(argv), and as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import (
    build_wheels,
    make_lock,
    upstream,
    write_pylock,
    write_requirements,
)
from tests.localserver import Fault
from wheelhouse.cli import main


def test_sync_json_summary_then_prune(
    tmp_path: Path, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, _ = serve(upstream(tmp_path, wheels).root)
    full = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    small = write_pylock(tmp_path / "pylock.small.toml", make_lock(wheels[:1], url))
    wh = tmp_path / "wh"
    assert main(["sync", str(full), "--wheelhouse", str(wh), "--jobs", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and len(summary["downloaded"]) == 3 and summary["indexed_files"] == 3

    assert main(["prune", "--wheelhouse", str(wh), "--keep", str(small), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("would remove") == 2
    assert len(list((wh / "files").glob("*.whl"))) == 3

    assert main(["prune", "--wheelhouse", str(wh), "--keep", str(small), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == sorted(w.name for w in wheels[1:])
    assert [p.name for p in (wh / "files").glob("*.whl")] == [wheels[0].name]
    assert not (wh / "simple" / "pkg1").exists()
    assert not (wh / "files" / (wheels[1].name + ".metadata")).exists()


def test_sync_reports_every_failure_and_exits_non_zero(
    tmp_path: Path, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, state = serve(upstream(tmp_path, wheels).root)
    state.faults[f"/files/{wheels[0].name}"] = Fault([404])
    state.faults[f"/files/{wheels[2].name}"] = Fault(["corrupt"])
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    code = main(["sync", str(lock), "--wheelhouse", str(tmp_path / "wh"), "--json"])
    assert code == 1  # mixed kinds: network and integrity
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert [f["file"] for f in summary["failed"]] == [wheels[0].name, wheels[2].name]
    assert "2 file(s) failed" in captured.err and "HTTP 404" in captured.err
    assert "hash mismatch" in captured.err
    assert summary["downloaded"] == [wheels[1].name]


def test_credentials_never_printed(
    tmp_path: Path, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wheels = build_wheels(tmp_path / "w", 1)
    url, state = serve(upstream(tmp_path, wheels).root)
    state.faults[f"/files/{wheels[0].name}"] = Fault([403])
    secret_url = url.replace("http://", "http://bob:hunter2@")
    lock = write_requirements(tmp_path / "requirements.lock", make_lock(wheels, None))
    code = main(
        ["-v", "sync", str(lock), "--wheelhouse", str(tmp_path / "wh"),
         "--index-url", f"{secret_url}/simple"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 4
    assert "hunter2" not in captured.out + captured.err
    assert "HTTP 403" in captured.err
    manifest = (tmp_path / "wh" / "wheelhouse.json").read_text()
    assert "hunter2" not in manifest


def test_missing_lock_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["sync", str(tmp_path / "nope.lock"), "--wheelhouse", str(tmp_path)]) == 2
    assert main(["serve", "--wheelhouse", str(tmp_path / "empty")]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_health(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not become healthy")


def test_serve_process_then_pip_installs(tmp_path: Path, serve: Any) -> None:
    """The new user's path: sync, `wheelhouse serve` as a process, pip installs the lock."""
    wheels = build_wheels(tmp_path / "w", 2)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = make_lock(wheels, None)
    req = write_requirements(tmp_path / "requirements.lock", lock)
    assert main(["sync", str(req), "--wheelhouse", str(tmp_path / "wh"),
                 "--index-url", f"{url}/simple"]) == 0  # fmt: skip
    port = _free_port()
    env = {**os.environ, "WHEELHOUSE_SERVE_TOKEN": "t0ken"}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "wheelhouse", "serve", "--wheelhouse", str(tmp_path / "wh"),
         "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_health(base, proc)
        pip_env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        pip_env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1")
        out = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--index-url",
             f"http://u:t0ken@127.0.0.1:{port}/simple", "--require-hashes", "--no-deps",
             "-r", str(req), "--target", str(tmp_path / "t")],
            env=pip_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert (tmp_path / "t" / "pkg1" / "__init__.py").is_file()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    access = (tmp_path / "serve.log").read_text()
    assert '"GET /simple/pkg0/" 200' in access
    assert "t0ken" not in access


def test_progress_bar_and_plain_lines(caplog: pytest.LogCaptureFixture) -> None:
    import io
    import logging

    from wheelhouse.cli._sync import ProgressRenderer, human_bytes
    from wheelhouse.mirror.sync import SyncEvent

    events = [
        SyncEvent("plan", count=2),
        SyncEvent("start", "a.whl"),
        SyncEvent("bytes", "a.whl", 0, 2_000_000),
        SyncEvent("bytes", "a.whl", 2_000_000),
        SyncEvent("done", "a.whl"),
        SyncEvent("failed", "b.whl", message="b.whl: HTTP 404"),
        SyncEvent("index", count=1),
    ]
    tty = io.StringIO()
    bar = ProgressRenderer(tty, bar=True)
    for e in events:
        bar(e)
    bar.finish()
    assert "2/2 files" in tty.getvalue() and "2.0 MB" in tty.getvalue()
    assert "[" + "#" * 30 + "]" in tty.getvalue()
    plain = io.StringIO()
    logger = logging.getLogger("wheelhouse")
    logger.propagate = True
    with caplog.at_level(logging.INFO, logger="wheelhouse"):
        lines = ProgressRenderer(plain, bar=False)
        for e in events:
            lines(e)
    assert plain.getvalue() == ""
    messages = [r.getMessage() for r in caplog.records]
    assert "downloaded a.whl" in messages and "failed: b.whl: HTTP 404" in messages
    assert human_bytes(999) == "999 B" and human_bytes(1_500_000_000) == "1.5 GB"


def test_prune_with_hash_only_lock_keeps_matching_files(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 3)
    url, _ = serve(upstream(tmp_path, wheels).root)
    full = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    wh = tmp_path / "wh"
    assert main(["-q", "sync", str(full), "--wheelhouse", str(wh)]) == 0
    (wh / ".partial" / "stale.whl.0123456789abcdef.part").write_bytes(b"x")
    (tmp_path / "keep").mkdir()  # away from pylock.toml, which load_lock would prefer
    keep = write_requirements(tmp_path / "keep" / "requirements.lock", make_lock(wheels[1:], None))
    assert main(["-q", "prune", "--wheelhouse", str(wh), "--keep", str(keep)]) == 0
    assert sorted(p.name for p in (wh / "files").glob("*.whl")) == sorted(
        w.name for w in wheels[1:]
    )
    assert list((wh / ".partial").iterdir()) == []
    index = json.loads((wh / "simple" / "index.json").read_text())
    assert [p["name"] for p in index["projects"]] == ["pkg1", "pkg2"]


def test_upstream_and_credentials_from_pip_config_and_netrc(
    tmp_path: Path, serve: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import base64

    wheels = build_wheels(tmp_path / "w", 2)
    url, state = serve(upstream(tmp_path, wheels).root)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login mirror password s3cr3t-pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {url}/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    (tmp_path / "l").mkdir()
    lock = write_requirements(tmp_path / "l" / "requirements.lock", make_lock(wheels, None))
    assert main(["-v", "sync", str(lock), "--wheelhouse", str(tmp_path / "wh")]) == 0
    expected = "Basic " + base64.b64encode(b"mirror:s3cr3t-pw").decode()
    auths = {
        {k.lower(): v for k, v in headers.items()}.get("authorization")
        for _, _, headers in state.requests
    }
    assert auths == {expected}
    captured = capsys.readouterr()
    assert "s3cr3t-pw" not in captured.out + captured.err
    assert "s3cr3t-pw" not in (tmp_path / "wh" / "wheelhouse.json").read_text()

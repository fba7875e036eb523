"""-q, -v and -vv as users run them: -q prints nothing on success (only what was asked for
on stdout: --json, a listing, run's answer), -v says what is being done, -vv each request."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.cli import main
from wheelhouse.cli._progress import step_progress
from wheelhouse.progress import Step

TARGET = ["--python-version", "3.7"]


@pytest.fixture
def world(tmp_path: Path, serve: Any) -> dict[str, Any]:
    index = SimpleIndex(root=tmp_path / "index")
    index.add(make_wheel(tmp_path / "d", "alpha", "1.0", ["beta"]))
    index.add(make_wheel(tmp_path / "d", "beta", "1.0"))
    index.write()
    url, state = serve(index.root)
    return {"url": f"{url}/simple", "state": state, "tmp": tmp_path}


def quiet(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run with -q; nothing on stderr; stdout returned (empty unless asked for)."""
    code = main([*argv, "-q"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err == "", f"{argv[0]} -q printed: {out.err!r}"
    return out.out


def test_quiet_prints_nothing_for_each_command(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    t: Path = world["tmp"]
    lock, wh, env, tar = t / "requirements.lock", t / "wh", t / "myenv", t / "myenv.tar.gz"
    steps = [
        ["lock", "alpha", "-i", world["url"], "-o", str(lock), *TARGET],
        ["lock", "alpha", "-i", world["url"], "-o", str(lock), *TARGET],  # up to date
        ["lock", "alpha", "-i", world["url"], "-o", str(lock), *TARGET, "--check"],
        ["lock", "alpha", "-i", world["url"], "-o", str(lock), *TARGET, "-U"],
        ["sync", str(lock), "--wheelhouse", str(wh)],
        ["sync", str(lock), "--wheelhouse", str(wh)],  # all present
        ["install", str(lock), "--wheelhouse", str(wh), "--target", str(env)],
        ["pack", str(env), "-o", str(tar)],
        ["verify", str(tar), "--lock", str(lock)],
        ["verify", str(env), "--lock", str(lock), "--wheelhouse", str(wh)],
        ["prune", "--wheelhouse", str(wh), "--keep", str(lock)],
        ["sbom", str(lock), "-o", str(t / "sbom.json")],
        ["snapshot", "--python-version", "3.7", "-o", str(t / "p.json")],
    ]
    for argv in steps:
        assert quiet(argv, capsys) == "", argv


def test_quiet_keeps_what_was_asked_for(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    t: Path = world["tmp"]
    lock = t / "requirements.lock"
    out = quiet(["lock", "alpha", "-i", world["url"], "-o", str(lock), *TARGET, "--json"], capsys)
    assert json.loads(out)["changed"] is True
    assert json.loads(quiet(["profiles", "--json"], capsys))
    assert json.loads(quiet(["snapshot", "--python-version", "3.7"], capsys))["version"] == 1


def test_quiet_still_shows_errors(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "nosuch", "-i", world["url"], "-o", str(world["tmp"] / "x"), "-q"]) == 3
    assert "nosuch" in capsys.readouterr().err


def test_verbose_says_what_lock_does_and_vv_each_request(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    lock = str(world["tmp"] / "requirements.lock")
    base = ["lock", "alpha", "-i", world["url"], "-o", lock, *TARGET, "-U"]
    assert main([*base, "-v"]) == 0
    err = capsys.readouterr().err
    assert "resolving 1 requirements for cp37-manylinux2014_x86_64" in err
    assert f"sources: index {world['url']}" in err
    assert f"{world['url']}/alpha/: 200" in err
    assert "metadata:" in err
    assert "  alpha 1.0" in err  # each choice of the resolution
    assert "HTTP Request" not in err
    assert main([*base, "-vv"]) == 0
    err = capsys.readouterr().err
    assert "HTTP Request: GET" in err and "unchanged (revalidated)" in err
    assert main(base) == 0
    err = capsys.readouterr().err
    assert "resolving for cp37-manylinux2014_x86_64\n" in err  # the step, as a plain line
    assert "resolving 1 requirements" not in err and "  alpha 1.0" not in err


def test_verbose_lists_each_wheel_installed(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    t: Path = world["tmp"]
    lock, wh = t / "requirements.lock", t / "wh"
    assert main(["lock", "alpha", "-i", world["url"], "-o", str(lock), *TARGET, "-q"]) == 0
    assert main(["sync", str(lock), "--wheelhouse", str(wh), "-q"]) == 0
    assert (
        main(["install", str(lock), "--wheelhouse", str(wh), "--target", str(t / "e"), "-v"]) == 0
    )
    err = capsys.readouterr().err
    assert "installing wheels (2)" in err  # plain lines: not a terminal
    assert "  alpha 1.0" in err and "  beta 1.0" in err
    assert "installed 2 distributions" in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("flag", ["-q", ""])
def test_serve_quiet_says_nothing(synced: Any, flag: str) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "wheelhouse", "serve", "--wheelhouse", str(synced.root)]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), *([flag] if flag else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    if flag:
        assert out == "" and err == "", (out, err)
    else:
        assert f"on http://127.0.0.1:{port}/simple/" in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["profiles", "--json"])  # sets up the logger at the default level
    capsys.readouterr()
    term = Terminal()
    bar = step_progress(term)
    assert bar is not None
    for step in (Step("installing wheels", 0, 2), Step("installing wheels", 2, 2, "b 1.0")):
        bar(step)
    bar(Step("installing wheels", 2, 2, finished=True))
    drawn = term.getvalue()
    assert "\r\x1b[Kinstalling wheels [" in drawn and "] 0/2" in drawn
    assert drawn.endswith("\r\x1b[K")  # the line is cleared for the summary
    plain = step_progress(io.StringIO())
    assert plain is not None
    plain(Step("installing wheels", 0, 2))
    plain(Step("installing wheels", 1, 2, "a 1.0"))
    assert capsys.readouterr().err == "installing wheels (2)\n"  # items only with -v

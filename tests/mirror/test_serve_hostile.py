"""`serve` against hostile clients and a tampered tree: it refuses, never fails open, and
holds bounded memory per request."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import Synced
from wheelhouse.cli import main
from wheelhouse.errors import UsageError
from wheelhouse.mirror import httplimits
from wheelhouse.mirror.protocol import parse_range
from wheelhouse.mirror.serveconfig import ENV_BASIC, ENV_TOKEN, ServeConfig, serve_config


def test_a_linked_project_folder_or_page_leading_out_is_not_served(
    synced: Synced, mirror: Any, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "evil").mkdir(parents=True)
    (outside / "evil" / "index.html").write_text("<a href='/x'>secret</a>")
    (outside / "index.html").write_text("secret page")
    simple = synced.root / "simple"
    (simple / "evil").symlink_to(outside / "evil", target_is_directory=True)
    (simple / "pkg0" / "index.html").unlink()
    (simple / "pkg0" / "index.html").symlink_to(outside / "index.html")
    (simple / "alias").symlink_to(simple / "pkg1", target_is_directory=True)
    base = mirror(synced.root)
    with httpx.Client(base_url=base) as c:
        for path in ("/simple/evil/", "/simple/pkg0/"):
            r = c.get(path, headers={"Accept": "text/html"})
            assert r.status_code == 404 and b"secret" not in r.content, path
        # a link that stays inside simple/ is fine
        assert c.get("/simple/alias/", headers={"Accept": "text/html"}).status_code == 200


def test_a_linked_files_folder_leading_out_is_not_served(tmp_path: Path, mirror: Any) -> None:
    from wheelhouse.mirror.static_index import write_index
    from wheelhouse.store.layout import Wheelhouse

    wh = Wheelhouse(tmp_path / "wh")
    wh.create()
    write_index(wh, {})
    secret = tmp_path / "secret-1.0-py3-none-any.whl"
    secret.write_bytes(b"secret")
    (wh.files / secret.name).symlink_to(secret)
    base = mirror(wh.root)
    assert httpx.get(f"{base}/files/{secret.name}").status_code == 404


@pytest.mark.parametrize(
    ("token", "basic", "env", "message"),
    [
        ("", None, {}, "--token is empty or blank"),
        ("  \t", None, {}, "--token is empty or blank"),
        (None, "ci:", {}, "--basic-auth: the password is empty or blank"),
        (None, " :pw", {}, "--basic-auth wants USER:PASSWORD"),
        (None, None, {ENV_TOKEN: ""}, f"${ENV_TOKEN} is empty or blank"),
        (None, None, {ENV_TOKEN: " "}, f"${ENV_TOKEN} is empty or blank"),
        (None, None, {ENV_BASIC: "ci: "}, f"${ENV_BASIC}: the password is empty or blank"),
    ],
)
def test_an_empty_or_blank_secret_is_a_start_up_error(
    token: str | None, basic: str | None, env: dict[str, str], message: str, synced: Synced
) -> None:
    with pytest.raises(UsageError, match=message.replace("$", r"\$")):
        serve_config(synced.root, token, basic, env=env)


def test_a_blank_token_from_the_environment_stops_the_command(
    synced: Synced, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_TOKEN, " ")
    assert main(["serve", "--wheelhouse", str(synced.root), "--port", "1"]) == 2
    assert f"${ENV_TOKEN} is empty or blank" in capsys.readouterr().err
    with pytest.raises(UsageError):
        ServeConfig.from_env({"WHEELHOUSE_SERVE_ROOT": str(synced.root), ENV_TOKEN: ""})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=" + "9" * 5000 + "-", False),  # start past any file: 416
        ("bytes=0-" + "9" * 5000, (0, 9)),  # end past the file: to its end
        ("bytes=-" + "9" * 5000, (0, 9)),  # suffix longer than the file: all of it
        ("bytes=" + "1" * 19 + "-" + "2" * 19, False),
        ("bytes=\u0661-", None),  # a digit that is not ASCII: not a range
    ],
)
def test_range_numbers_of_any_length_parse_quickly(header: str, expected: object) -> None:
    started = time.perf_counter()
    assert parse_range(header, 10) == expected
    assert time.perf_counter() - started < 0.1


def test_a_huge_range_number_is_416_not_500(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root)
    name = synced.wheels[0].name
    r = httpx.get(f"{base}/files/{name}", headers={"Range": "bytes=" + "9" * 5000 + "-"})
    assert r.status_code == 416


def _raw(base: str, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return all the server answers before it closes (or the timeout)."""
    host, port = urlsplit(base).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        # the server may close before it has read everything: its answer is still there
        with contextlib.suppress(OSError):
            sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks)


def test_log_lines_are_escaped(synced: Synced, mirror: Any) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("wheelhouse.access")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        base = mirror(synced.root)
        httpx.get(f'{base}/simple/x%0a1.2.3.4 "GET /admin" 200 0 0.1ms%22')
        httpx.get(f"{base}/files/a%1b[31mred?q=%0aline")
        deadline = time.monotonic() + 2
        while len(records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    lines = [r.getMessage() for r in records]
    assert len(lines) == 2 and all("\n" not in line and "\x1b" not in line for line in lines)
    assert '/simple/x%0A1.2.3.4%20%22GET%20/admin%22%20200%200%200.1ms%22" 404' in lines[0]
    assert "/files/a%1B[31mred?q=%250aline" in lines[1]


def test_a_head_too_big_is_431_and_bounded(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root)
    big = b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 << 20) + b"\r\n\r\n"
    answer = _raw(base, big)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    many = b"".join(b"X-%d: y\r\n" % i for i in range(httplimits.HEADERS + 1))
    answer = _raw(base, b"GET /simple/ HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ") and b"more than 100 headers" in answer
    long_target = b"GET /simple/" + b"a" * (httplimits.REQUEST_LINE + 1) + b" HTTP/1.1\r\n\r\n"
    assert _raw(base, long_target).startswith(b"HTTP/1.1 414 ")
    # a normal request on the same server still works
    assert httpx.get(f"{base}/simple/", headers={"X-Some": "a" * 4000}).status_code == 200


def test_a_head_that_never_ends_is_cut_off(
    synced: Synced, mirror: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httplimits, "HEAD_SECONDS", 0.5)
    base = mirror(synced.root)
    started = time.monotonic()
    answer = _raw(base, b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Slow: ", timeout=10)
    assert answer == b"" and time.monotonic() - started < 5


def test_keep_alive_requests_still_work_under_the_limits(synced: Synced, mirror: Any) -> None:
    base = mirror(synced.root)
    with httpx.Client(base_url=base) as c:
        for _ in range(20):
            assert c.get("/simple/pkg0/", headers={"X-Pad": "p" * 2000}).status_code == 200
    assert os.environ.get(ENV_TOKEN) is None

"""The command line as users run it, on the crafted inputs that gave tracebacks: each is
one line naming the file, URL or field, and the documented exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import tomllib

from tests.helpers import build_wheels, make_lock, write_pylock, write_requirements
from wheelhouse.model.profile import bare_profile


def wheelhouse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelhouse", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _pylock(tmp_path: Path) -> Path:
    wheels = build_wheels(tmp_path / "w", 1)
    return write_pylock(tmp_path / "pylock.toml", make_lock(wheels, "https://upstream.test"))


def _edited_pylock(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> list[str]:
    path = _pylock(tmp_path)
    doc = tomllib.loads(path.read_text())
    change(doc)
    path.write_text(tomli_w.dumps(doc))
    return ["sync", str(path), "--wheelhouse", str(tmp_path / "wh")]


def pylock_without_sha256(tmp_path: Path) -> list[str]:
    def change(doc: dict[str, Any]) -> None:
        doc["packages"][0]["wheels"][0]["hashes"] = {"md5": "00" * 16}

    return _edited_pylock(tmp_path, change)


def pylock_package_not_a_table(tmp_path: Path) -> list[str]:
    def change(doc: dict[str, Any]) -> None:
        doc["packages"] = ["pkg0"]

    return _edited_pylock(tmp_path, change)


def requirements_lock_odd_platform(tmp_path: Path) -> list[str]:
    wheels = build_wheels(tmp_path / "w", 1)
    path = write_requirements(tmp_path / "requirements.lock", make_lock(wheels, None))
    text = path.read_text()
    path.write_text(text.replace("platform=manylinux", "platform=macosx_x_manylinux", 1))
    (tmp_path / "files").mkdir()
    return ["install", str(path), "--wheelhouse", str(tmp_path), "--target", str(tmp_path / "o")]


def _profile(tmp_path: Path, change: Callable[[dict[str, object]], None]) -> list[str]:
    import json

    data = bare_profile("3.7").to_dict()
    change(data)
    path = tmp_path / "image.json"
    path.write_text(json.dumps(data))
    return ["lock", "pkg", "--image", str(path), "--no-index", "-o", str(tmp_path / "r.lock")]


def profile_null_tag(tmp_path: Path) -> list[str]:
    return _profile(tmp_path, lambda d: d["tags"].insert(0, None))  # type: ignore[attr-defined]


def profile_missing_marker(tmp_path: Path) -> list[str]:
    return _profile(tmp_path, lambda d: d["markers"].pop("python_full_version"))  # type: ignore[attr-defined]


def profile_not_utf8(tmp_path: Path) -> list[str]:
    path = tmp_path / "image.json"
    path.write_bytes(b'{"format": 1, "name": "\xff\xfe"}')
    return ["lock", "pkg", "--image", str(path), "--no-index", "-o", str(tmp_path / "r.lock")]


def timeout_nan(tmp_path: Path) -> list[str]:
    return [
        "sync",
        str(_pylock(tmp_path)),
        "--wheelhouse",
        str(tmp_path / "wh"),
        "--timeout",
        "nan",
    ]


def trusted_host_control(tmp_path: Path) -> list[str]:
    return ["sync", str(_pylock(tmp_path)), "--wheelhouse", str(tmp_path / "wh")]


def index_url_bad_ipv6(tmp_path: Path) -> list[str]:
    return ["lock", "pkg", "--index-url", "http://[::1", "-o", str(tmp_path / "r.lock")]


def index_url_not_http(tmp_path: Path) -> list[str]:
    return ["lock", "pkg", "--index-url", "javascript:alert(1)", "-o", str(tmp_path / "r.lock")]


CASES: list[tuple[Callable[[Path], list[str]], dict[str, str], int, str]] = [
    (pylock_without_sha256, {}, 2, "has no sha256"),
    (pylock_package_not_a_table, {}, 2, "packages[0] is not a table"),
    (requirements_lock_odd_platform, {}, 2, "not a platform tag"),
    (profile_null_tag, {}, 2, "tags[0]: expected a string, got null"),
    (profile_missing_marker, {}, 2, "markers.python_full_version: missing (required)"),
    (profile_not_utf8, {}, 2, "is not UTF-8"),
    (timeout_nan, {}, 2, "give a positive number of seconds, not 'nan'"),
    (trusted_host_control, {"PIP_TRUSTED_HOST": "a\x1bb"}, 2, "$PIP_TRUSTED_HOST"),
    (trusted_host_control, {"PIP_TIMEOUT": "nan"}, 2, "pip configuration timeout='nan'"),
    (trusted_host_control, {"PIP_INDEX_URL": "http://[::1"}, 2, "$PIP_INDEX_URL"),
    (index_url_bad_ipv6, {}, 2, "--index-url is not a URL (Invalid IPv6 URL)"),
    (index_url_not_http, {}, 2, "javascript:// is not supported (http, https or file)"),
]


@pytest.mark.parametrize(
    ("build", "env", "code", "message"),
    CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_one_line_and_the_documented_exit_code(
    build: Callable[[Path], list[str]], env: dict[str, str], code: int, message: str, tmp_path: Path
) -> None:
    run = wheelhouse(*build(tmp_path), env=env)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == code, run.stderr
    assert message in run.stderr, run.stderr

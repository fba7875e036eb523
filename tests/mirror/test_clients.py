"""Clients nobody here wrote install from `serve` with no other index configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Synced, write_requirements


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_NO_PROGRESS="1",
    )
    return env


def _pip_install(python: str, index: str, lock: Path, target: Path, tmp_path: Path) -> None:
    cmd = [
        python, "-m", "pip", "install", "--index-url", index, "--require-hashes", "--no-deps",
        "-r", str(lock), "--target", str(target),
    ]  # fmt: skip
    out = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr


def _installed(target: Path, synced: Synced) -> None:
    for i in range(len(synced.wheels)):
        assert (target / f"pkg{i}" / "__init__.py").read_text() == f"VALUE = {i}\n"


def test_pip_311_installs_lock(synced: Synced, mirror: Any, tmp_path: Path) -> None:
    base = mirror(synced.root)
    lock = write_requirements(tmp_path / "requirements.lock", synced.lock)
    _pip_install(sys.executable, f"{base}/simple", lock, tmp_path / "t", tmp_path)
    _installed(tmp_path / "t", synced)


def test_pip_311_with_token_in_url(synced: Synced, mirror: Any, tmp_path: Path) -> None:
    base = mirror(synced.root, token="tok3n")
    lock = write_requirements(tmp_path / "requirements.lock", synced.lock)
    index = base.replace("http://", "http://ci:tok3n@") + "/simple"
    _pip_install(sys.executable, index, lock, tmp_path / "t", tmp_path)
    _installed(tmp_path / "t", synced)


@pytest.mark.py37
def test_pip_under_python37_installs_lock(
    synced: Synced, mirror: Any, tmp_path: Path, python37: str
) -> None:
    base = mirror(synced.root)
    lock = write_requirements(tmp_path / "requirements.lock", synced.lock)
    _pip_install(python37, f"{base}/simple", lock, tmp_path / "t", tmp_path)
    _installed(tmp_path / "t", synced)


def test_uv_installs_lock(synced: Synced, mirror: Any, tmp_path: Path) -> None:
    base = mirror(synced.root)
    lock = write_requirements(tmp_path / "requirements.lock", synced.lock)
    uv = Path(sys.executable).with_name("uv")
    cmd = [
        str(uv), "pip", "install", "--index-url", f"{base}/simple", "--require-hashes",
        "--no-deps", "-r", str(lock), "--target", str(tmp_path / "t"),
        "--python", sys.executable,
    ]  # fmt: skip
    out = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    _installed(tmp_path / "t", synced)

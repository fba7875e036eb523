"""Shared fixtures: every test runs with pip's configuration turned off and its own cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import SPECS, Client, make_client
from tests.helpers import (
    House,
    Synced,
    build_wheels,
    config_for,
    isolate,
    make_lock,
    run_mirror,
    upstream,
    write_pylock,
)
from tests.localserver import ServerState, serve_folder
from tests.wheelfactory import SimpleIndex
from wheelhouse.mirror.serveconfig import ServeConfig
from wheelhouse.mirror.sync import sync

# This machine's environment as the session found it, pip's configuration included: only
# for fetching the clients the matrix runs (tests/clients.py), never for wheelhouse itself.
MACHINE_ENV = dict(os.environ)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never see this machine's pip configuration, netrc or cache."""
    isolate(monkeypatch, tmp_path_factory.mktemp("cache"))


@pytest.fixture
def index(tmp_path: Path) -> SimpleIndex:
    """An empty static index; add files, `.write()`, then serve it with `served_index`."""
    return SimpleIndex(root=tmp_path / "index")


@pytest.fixture
def serve() -> Iterator[object]:
    """serve(path) -> (base_url, state): a real HTTP server for the rest of the test."""
    stack: list[object] = []

    def start(root: Path) -> tuple[str, ServerState]:
        cm = serve_folder(root)
        url, state = cm.__enter__()
        stack.append(cm)
        return url, state

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)  # type: ignore[attr-defined]


def find_python37() -> str | None:
    """A real CPython 3.7 (through pyenv on these machines, or $WH_TEST_PYTHON37)."""
    env = os.environ.get("WH_TEST_PYTHON37")
    if env:
        return env
    pyenv = shutil.which("pyenv")
    if pyenv:
        for version in ("3.7.16", "3.7.17", "3.7"):
            out = subprocess.run(
                [pyenv, "which", "python"],
                capture_output=True,
                text=True,
                env={**os.environ, "PYENV_VERSION": version},
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    return shutil.which("python3.7")


@pytest.fixture(scope="session")
def python37() -> str:
    found = find_python37()
    if not found:
        if os.environ.get("CI"):
            pytest.fail("CI needs a real Python 3.7 (pyenv 3.7.x or $WH_TEST_PYTHON37)")
        pytest.skip("no Python 3.7 on this machine (install it with pyenv to run this test)")
    return found


BUILD_DISTS = Path(__file__).resolve().parent.parent / ".venv" / "test-dists"


@pytest.fixture(scope="session")
def build_backend() -> list[Path]:
    """setuptools and wheel for Python 3.7, fetched once when `make` set up .venv (the
    tests that build sdists put them in their own index: never the network)."""
    found = sorted(BUILD_DISTS.glob("*.whl")) if BUILD_DISTS.is_dir() else []
    names = {p.name.split("-")[0] for p in found}
    if not {"setuptools", "wheel"} <= names:
        message = f"no setuptools and wheel wheels in {BUILD_DISTS} (run make to fetch them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def house(tmp_path: Path) -> House:
    h = House(tmp_path / "wh")
    h.files.mkdir(parents=True)
    return h


@pytest.fixture
def synced(tmp_path: Path, serve: Any) -> Synced:
    """A wheelhouse holding three small wheels synced from a loopback upstream."""
    wheels = build_wheels(tmp_path / "w", 3)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = make_lock(wheels, url)
    report = sync(
        [write_pylock(tmp_path / "pylock.toml", lock)], tmp_path / "wh", config=config_for(url)
    )
    assert report.ok, report.failed
    return Synced(tmp_path / "wh", lock, wheels)


@pytest.fixture
def mirror() -> Iterator[Callable[..., str]]:
    """mirror(root, token=..., basic_auth=...) -> base URL of a running `serve`."""
    stack: list[Any] = []

    def start(root: Path, **kw: Any) -> str:
        cm = run_mirror(ServeConfig(root=root, **kw))
        stack.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def clients(python37: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Client]:
    """clients(id) -> that installer (tests/clients.py), made on first use for the session."""
    made: dict[str, Client] = {}
    work = tmp_path_factory.mktemp("clients")

    def get(client_id: str) -> Client:
        if client_id not in made:
            spec = next(s for s in SPECS if s.id == client_id)
            made[client_id] = make_client(spec, python37, work, MACHINE_ENV)
        return made[client_id]

    return get


@pytest.fixture(scope="session")
def azurite_connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string to Azurite's blob service, started for this session on a loopback
    port. Skipped where Azurite is missing (`make check` installs it with npm); under
    CI=true that is a failure, not a skip."""
    from tests.azurite import azurite, ci, connection_string, find_azurite

    binary = find_azurite()
    if binary is None:
        message = (
            "azurite-blob not found (npm install azurite into .ci/node: `make azurite`, "
            "which needs node and npm)"
        )
        if ci():
            pytest.fail(message)
        pytest.skip(message)
    with azurite(binary, tmp_path_factory.mktemp("azurite")) as port:
        yield connection_string(port)


@pytest.fixture
def blob_env(azurite_connection: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment that points az:// at Azurite, set for this test (and returned)."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    return {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection}


@pytest.fixture
def container(blob_env: dict[str, str]) -> str:
    """A new, empty container in Azurite: its name."""
    import asyncio
    import uuid

    from azure.storage.blob.aio import BlobServiceClient

    name = f"wh-{uuid.uuid4().hex[:20]}"

    async def make() -> None:
        conn = blob_env["AZURE_STORAGE_CONNECTION_STRING"]
        async with BlobServiceClient.from_connection_string(conn) as service:
            await service.create_container(name)

    asyncio.run(make())
    return name

"""`serve --wheelhouse az://CONTAINER/PREFIX` against Azurite: the same answers as from a
folder, pages held and revalidated by ETag, files streamed with Range; a lock synced into a
container, two processes serving it, Python 3.7's pip installing with hashes through either,
and through one when the other died."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import Synced, config_for, run_mirror, write_pylock, write_requirements
from wheelhouse.mirror.serve import MirrorApp
from wheelhouse.mirror.serveconfig import ServeConfig
from wheelhouse.mirror.sync import sync
from wheelhouse.store.storage import open_wheelhouse

JSON = "application/vnd.pypi.simple.v1+json"


def upload(root: Path, spec: str) -> None:
    """A synced wheelhouse folder copied into object storage (its files verified on the way)."""

    async def main() -> None:
        storage = open_wheelhouse(spec)
        try:
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root).as_posix()
                if not path.is_file() or rel.startswith("."):
                    continue  # .partial/, the writers' lock
                if rel.startswith("files/"):
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    await storage.put_file(rel, path, digest)
                else:
                    await storage.put_bytes(rel, path.read_bytes())
        finally:
            await storage.close()

    asyncio.run(main())


def put(spec: str, key: str, data: bytes) -> None:
    async def main() -> None:
        storage = open_wheelhouse(spec)
        try:
            await storage.put_bytes(key, data)
        finally:
            await storage.close()

    asyncio.run(main())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_serving_from_blob_storage(synced: Synced, container: str) -> None:
    spec = f"az://{container}/team/wh"
    big = random.Random(3).randbytes(3_000_000)  # streamed, not held
    (synced.root / "files" / "big-1.0-py3-none-any.whl").write_bytes(big)
    upload(synced.root, spec)
    clock = Clock()
    app = MirrorApp(ServeConfig(root=spec, ready_max_age=3600), clock=clock)
    with run_mirror(app.config, app) as base, httpx.Client(base_url=base) as c:
        local = synced.root / "simple"
        page = c.get("/simple/pkg1/")
        assert page.status_code == 200 and page.text == (local / "pkg1" / "index.html").read_text()
        as_json = c.get("/simple/pkg1/", headers={"Accept": JSON})
        assert as_json.headers["content-type"] == JSON and as_json.json()["name"] == "pkg1"
        etag = page.headers["etag"]
        assert c.get("/simple/pkg1/", headers={"If-None-Match": etag}).status_code == 304
        assert c.get("/simple/nothere/").status_code == 404
        assert c.get("/simple/PKG1").headers["location"] == "/simple/pkg1/"
        wheel = synced.wheels[1]
        assert c.get(f"/files/{wheel.name}").content == wheel.read_bytes()
        meta = c.get(f"/files/{wheel.name}.metadata")
        assert meta.status_code == 200 and b"Name: pkg1" in meta.content
        url = "/files/big-1.0-py3-none-any.whl"
        assert c.get(url).content == big
        part = c.get(url, headers={"Range": "bytes=1000000-2500000"})
        assert part.status_code == 206 and part.content == big[1_000_000:2_500_001]
        assert part.headers["content-range"] == f"bytes 1000000-2500000/{len(big)}"
        whole_etag = c.head(url).headers["etag"]
        assert c.get(url, headers={"If-None-Match": whole_etag}).status_code == 304
        assert c.get("/files/nothere-1.0-py3-none-any.whl").status_code == 404
        assert c.get("/files/..%2fwheelhouse.json").status_code == 404
        ready = c.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        # a page changed in the container: held until due, then read again (by ETag)
        put(spec, "simple/pkg1/index.html", page.content.replace(b"pkg1", b"pkg1-new"))
        assert "pkg1-new" not in c.get("/simple/pkg1/").text
        clock.now += 10
        fresh = c.get("/simple/pkg1/", headers={"If-None-Match": etag})
        assert fresh.status_code == 200 and "pkg1-new" in fresh.text
        # an unchanged page revalidated keeps its ETag (a conditional read, no body)
        assert c.get("/simple/pkg0/", headers={"Accept": JSON}).status_code == 200
        clock.now += 10
        again = c.get("/simple/pkg0/", headers={"Accept": JSON})
        assert again.status_code == 200 and again.json()["name"] == "pkg0"
        # a held file is revalidated by its ETag too: unchanged, then replaced
        meta_etag = meta.headers["etag"]
        assert c.get(f"/files/{wheel.name}.metadata").headers["etag"] == meta_etag
        put(spec, f"files/{wheel.name}.metadata", b"Name: pkg1\nVersion: 9\n")
        clock.now += 10
        changed = c.get(f"/files/{wheel.name}.metadata", headers={"If-None-Match": meta_etag})
        assert changed.status_code == 200 and changed.content == b"Name: pkg1\nVersion: 9\n"


def test_ready_without_an_index_in_the_container(container: str) -> None:
    spec = f"az://{container}/empty"
    with run_mirror(ServeConfig(root=spec)) as base:
        r = httpx.get(f"{base}/ready")
        assert r.status_code == 503 and "no index" in r.json()["reason"]
        assert httpx.get(f"{base}/health").status_code == 200
        assert httpx.get(f"{base}/simple/").status_code == 404


def test_a_missing_container_is_503_not_a_traceback(blob_env: dict[str, str]) -> None:
    with run_mirror(ServeConfig(root="az://no-such-container-here/x")) as base:
        r = httpx.get(f"{base}/simple/pkg0/")
        assert r.status_code == 503 and r.text == "wheelhouse unavailable\n"
        ready = httpx.get(f"{base}/ready")
        assert ready.status_code == 503 and "unreadable" in ready.json()["reason"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(spec: str, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "wheelhouse", "serve", "--wheelhouse", spec,
           "--port", str(port), "--workers", str(workers)]  # fmt: skip
    with log.open("wb") as err:  # a file, not a pipe: nothing blocks on a full pipe
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )  # its own process group: the workers die with it
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(log.read_text())
        time.sleep(0.1)


def _pip_install(python: str, venv: Path, base: str, lock: Path, target: Path) -> str:
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--require-hashes",
           "--disable-pip-version-check", "--no-cache-dir", "--index-url", f"{base}/simple/",
           "--target", str(target), "-r", str(lock)]  # fmt: skip
    out = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_two_servers_on_one_container_and_pip_37(
    synced: Synced, container: str, python37: str, tmp_path: Path
) -> None:
    spec = f"az://{container}/wh"
    pylock = write_pylock(tmp_path / "pylock.toml", synced.lock)  # its URLs: the upstream's
    report = sync([pylock], spec, config=config_for("http://127.0.0.1:9"))
    assert report.ok and len(report.downloaded) == len(synced.wheels), report.failed
    lock = write_requirements(tmp_path / "requirements.lock", synced.lock)
    venv = tmp_path / "venv37"
    subprocess.run([python37, "-m", "venv", str(venv)], check=True, timeout=300)
    first, base1 = _start(spec, 2, tmp_path / "first.log")
    second, base2 = _start(spec, 1, tmp_path / "second.log")
    try:
        assert httpx.get(f"{base1}/ready").json()["age_seconds"] < 600  # sync's stamp
        for i, base in enumerate((base1, base2)):
            _pip_install(python37, venv, base, lock, tmp_path / f"t{i}")
            for w in synced.wheels:
                assert (tmp_path / f"t{i}" / w.name.split("-")[0] / "__init__.py").is_file()
        os.killpg(first.pid, signal.SIGKILL)  # the server and its workers, at once
        first.wait(timeout=30)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base1}/health", timeout=2)
        _pip_install(python37, venv, base2, lock, tmp_path / "after")
        assert (tmp_path / "after" / "pkg2" / "__init__.py").is_file()
        assert "GET /files/" in (tmp_path / "second.log").read_text()
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.terminate()
        for proc in (first, second):
            proc.wait(timeout=30)

"""`wheelhouse serve` requests/s, measured in one run on loopback with wrk (or, without it,
a small Python load generator in its own process).

  an index page (pip's Accept: the PEP 691 JSON page), a 304 for it, /health
  with 1 worker and with the default (one per CPU this process may use)
  the same from a wheelhouse in Azure Blob Storage (Azurite on loopback, where installed:
  `make azurite`), next to the local folder
  the same page from plain nginx on the same static tree (where nginx is installed)

Run: .venv/bin/python bench/bench_serve.py [--seconds 5] [--conns 64] [--projects 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from wheelhouse.mirror.static_index import write_index
from wheelhouse.store.layout import Wheelhouse

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)


def make_wheelhouse(root: Path, projects: int) -> Wheelhouse:
    """`projects` projects of three versions each, indexed (no network, no resolver)."""
    wh = Wheelhouse(root)
    wh.create()
    for i in range(projects):
        for minor in range(3):
            dist = f"bench{i}"
            info = f"{dist}-1.{minor}.dist-info"
            path = wh.files / f"{dist}-1.{minor}-py3-none-any.whl"
            meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.{minor}\n\n"
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr(f"{dist}/__init__.py", "")
                zf.writestr(f"{info}/METADATA", meta)
                zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
                zf.writestr(f"{info}/RECORD", "")
    write_index(wh, {})
    return wh


def upload(root: Path, spec: str) -> None:
    """The wheelhouse folder copied into object storage."""
    import hashlib

    from wheelhouse.store.storage import open_wheelhouse

    async def main() -> None:
        storage = open_wheelhouse(spec)
        try:
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root).as_posix()
                if not path.is_file() or rel.startswith("."):
                    continue
                if rel.startswith("files/"):
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    await storage.put_file(rel, path, digest)
                else:
                    await storage.put_bytes(rel, path.read_bytes())
        finally:
            await storage.close()

    asyncio.run(main())


def make_container(connection: str, name: str) -> None:
    from azure.storage.blob.aio import BlobServiceClient

    async def main() -> None:
        async with BlobServiceClient.from_connection_string(connection) as service:
            await service.create_container(name)

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start ({url})")


def start_serve(spec: str, workers: int | None, procs: list[subprocess.Popen[bytes]]) -> str:
    port = free_port()
    cmd = [PY, "-m", "wheelhouse", "-q", "serve", "--wheelhouse", spec, "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_up(proc, f"{base}/health")
    return base


NGINX_CONF = """
worker_processes {workers};
daemon off;
error_log stderr error;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/octet-stream;
    types {{ text/html html; application/json json; }}
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


def start_nginx(
    root: Path, prefix: Path, workers: int, procs: list[subprocess.Popen[bytes]]
) -> str:
    """Plain nginx on the same static tree (no negotiation: the HTML page)."""
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root, workers=workers))
    cmd = ["nginx", "-p", str(prefix), "-c", str(conf)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_up(proc, f"{base}/simple/")
    return base


# -- load ------------------------------------------------------------------------------


async def _worker(
    host: str, port: int, request: bytes, expect: bytes, stop: float, counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    while time.perf_counter() < stop:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(expect):
            raise SystemExit(f"load: {head.splitlines()[0]!r}")
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        await reader.readexactly(int(m.group(1)) if m else 0)
        counts[0] += 1
    writer.close()


def loadgen(url: str, headers: dict[str, str], status: int, seconds: float, conns: int) -> float:
    """Requests per second against `url` with `conns` keep-alive connections."""
    parts = httpx.URL(url)
    lines = [f"GET {parts.raw_path.decode()} HTTP/1.1", f"Host: {parts.host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    expect = f"HTTP/1.1 {status} ".encode()

    async def main() -> int:
        counts = [0]
        stop = time.perf_counter() + seconds
        host, port = parts.host, parts.port or 80
        await asyncio.gather(
            *(_worker(host, port, request, expect, stop, counts) for _ in range(conns))
        )
        return counts[0]

    t0 = time.perf_counter()
    n = asyncio.run(main())
    return n / (time.perf_counter() - t0)


def measure(url: str, headers: dict[str, str], status: int, seconds: float, conns: int) -> float:
    """Requests/s from wrk when installed, else from the generator above in its own process."""
    if shutil.which("wrk"):
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(int(seconds), 1)}s"]
        for k, v in headers.items():
            cmd += ["-H", f"{k}: {v}"]
        out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not m or "Non-2xx" in out or "Socket errors" in out:
            raise SystemExit(f"wrk against {url}:\n{out}")
        return float(m.group(1))
    args = [PY, __file__, "--loadgen", url, "--headers", json.dumps(headers)]
    args += ["--status", str(status), "--seconds", str(seconds), "--conns", str(conns)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["rps"])


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def serve_rows(
    label: str, spec: str, args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]
) -> list[tuple[str, float]]:
    """Page, 304 and /health for `spec` with one worker and with the default."""
    rows = []
    page = "/simple/bench0/"
    # the default, given explicitly: the same count, and comparable with a version before it
    for workers, wlabel in ((1, "1 worker"), (default_workers(), f"{default_workers()} workers")):
        base = start_serve(spec, workers, procs)
        etag = httpx.get(base + page, headers={"Accept": PIP_ACCEPT}).headers["etag"]
        accept = {"Accept": PIP_ACCEPT}
        rows.append(
            (
                f"{label}, {wlabel}: index page",
                measure(base + page, accept, 200, args.seconds, args.conns),
            )
        )
        cond = {**accept, "If-None-Match": etag}
        rows.append(
            (f"{label}, {wlabel}: 304", measure(base + page, cond, 304, args.seconds, args.conns))
        )
        rows.append(
            (
                f"{label}, {wlabel}: /health",
                measure(base + "/health", {}, 200, args.seconds, args.conns),
            )
        )
        procs.pop().terminate()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--no-blob", action="store_true", help="leave out the Azurite rows")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--headers", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--status", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        rps = loadgen(args.loadgen, json.loads(args.headers), args.status, args.seconds, args.conns)
        print(json.dumps({"rps": rps}))
        return
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's workers may drop to another user
        wh = make_wheelhouse(work / "wh", args.projects)
        rows: list[tuple[str, float]] = []
        sys.path.insert(0, str(ROOT))
        from tests.azurite import azurite, connection_string, find_azurite

        binary = None if args.no_blob else find_azurite()
        try:
            rows += serve_rows("serve (local folder)", str(wh.root), args, procs)
            if binary is None:
                if not args.no_blob:
                    print("azurite-blob not found (make azurite): no blob storage rows")
            else:
                with azurite(binary, work / "azurite") as port:
                    conn = connection_string(port)
                    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = conn
                    make_container(conn, "bench")
                    upload(wh.root, "az://bench/wh")
                    rows += serve_rows("serve (blob, Azurite)", "az://bench/wh", args, procs)
            if shutil.which("nginx"):
                nbase = start_nginx(wh.root, work / "nginx", default_workers(), procs)
                url = f"{nbase}/simple/bench0/"
                rows.append(
                    (
                        f"plain nginx ({default_workers()} workers): index page (HTML)",
                        measure(url, {"Accept": "text/html"}, 200, args.seconds, args.conns),
                    )
                )
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=20)
    tool = "wrk -t1" if shutil.which("wrk") else "Python load generator"
    print(f"serve requests/s ({tool}, {args.conns} connections, {args.seconds:.0f} s each, "
          f"{default_workers()} CPUs, load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    for label, rps in rows:
        print(f"  {label:<60} {rps:9.0f} req/s")


if __name__ == "__main__":
    main()

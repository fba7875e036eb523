"""Side-by-side figures for the mirror, measured in one run on loopback.

  sync throughput   vs the upstream's raw rate (curl / plain httpx, no hashing, no disk)
                    vs `pip download --no-deps --require-hashes` of the same files
  serve requests/s  vs the same static tree under `python -m http.server`
  sync peak memory  with one wheel of several hundred MB

Run: .venv/bin/python bench/bench_mirror.py [--files 32] [--file-mb 4] [--big-mb 300]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from packaging.utils import canonicalize_name

from wheelhouse.mirror.static_index import write_index
from wheelhouse.model.lock import Lock, LockedFile, LockTarget, Pin
from wheelhouse.model.profile import bare_profile
from wheelhouse.model.pylock import render_pylock
from wheelhouse.model.requirements_lock import render_requirements
from wheelhouse.store.layout import Wheelhouse

PY = sys.executable


def stored_wheel(folder: Path, name: str, size: int) -> Path:
    """A real (uncompressed) wheel holding `size` random bytes."""
    dist = name.replace("-", "_")
    info = f"{dist}-1.0.dist-info"
    path = folder / f"{dist}-1.0-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nRequires-Python: >=3.7\n\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{dist}/__init__.py", "")
        with zf.open(f"{dist}/blob.bin", "w", force_zip64=True) as out:
            left = size
            while left > 0:
                n = min(left, 8 << 20)
                out.write(os.urandom(n))
                left -= n
        zf.writestr(f"{info}/METADATA", meta)
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def make_lock(wheels: list[Path], base: str, with_urls: bool) -> Lock:
    pins = [
        Pin(
            name=canonicalize_name(w.name.split("-")[0]),
            version="1.0",
            files=(
                LockedFile(
                    filename=w.name,
                    hashes={"sha256": sha256(w)},
                    url=f"{base}/files/{w.name}" if with_urls else None,
                    size=w.stat().st_size,
                    upload_time=datetime(2021, 1, 1, tzinfo=timezone.utc),
                ),
            ),
        )
        for w in wheels
    ]
    target = LockTarget.from_profile(bare_profile("3.7", "manylinux2014_x86_64"))
    return Lock(target=target, pins=tuple(pins), input_digest="bench")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], health: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(health, timeout=1).status_code < 500:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start: {cmd}")


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """(seconds, peak RSS in MB, stdout) of a child process."""
    # Write back what earlier steps left dirty first: sync's fsync would otherwise pay for
    # it (ext4 commits a transaction's data together), pip's (none) would not.
    # Linux keeps ru_maxrss across exec: a child forked straight from this (big) process
    # would report this process's size. GNU time forks it from a small one instead.
    timer = ["/usr/bin/time", "-f", "maxrss_kb=%M"] if os.path.exists("/usr/bin/time") else []
    os.sync()
    t0 = time.perf_counter()
    proc = subprocess.Popen([*timer, *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()  # small (-q; --json for sync): no pipe fills up meanwhile
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    m = re.search(r"maxrss_kb=(\d+)", err)
    return elapsed, (int(m.group(1)) if m else usage.ru_maxrss) // 1024, out.decode()


def httpx_raw(urls: list[str], jobs: int, into: Path | None = None, tuned: bool = False) -> float:
    """Seconds to download with plain httpx: bytes discarded, or (with `into`) hashed and
    written (no fsync, no index): the least work a verifying mirror can do. `tuned`: with
    what sync uses (uvloop, 1 MB reads) instead of httpx's defaults (asyncio, 64 KB)."""
    import httpcore

    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = (1 << 20) if tuned else 64 * 1024
    if into is not None:
        shutil.rmtree(into, ignore_errors=True)
        into.mkdir()
    os.sync()
    t0 = time.perf_counter()
    if tuned:
        import uvloop

        uvloop.run(_httpx_raw(urls, jobs, into))
    else:
        asyncio.run(_httpx_raw(urls, jobs, into))
    return time.perf_counter() - t0


async def _httpx_raw(urls: list[str], jobs: int, into: Path | None) -> None:
    gate = asyncio.Semaphore(jobs)
    limits = httpx.Limits(max_connections=jobs)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(url: str) -> None:
            async with gate, client.stream("GET", url) as r:
                if into is None:
                    async for _ in r.aiter_raw():
                        pass
                    return
                h = hashlib.sha256()
                with open(into / url.rsplit("/", 1)[1], "wb") as f:
                    async for chunk in r.aiter_raw():
                        h.update(chunk)
                        f.write(chunk)

        await asyncio.gather(*(one(u) for u in urls))


# -- a tiny HTTP/1.1 load generator (keep-alive when the server allows it) ------------


async def _worker(host: str, port: int, path: str, stop: float, counts: list[int]) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n".encode()
    reader = writer = None
    while time.perf_counter() < stop:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        assert reader is not None
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        if " 200 " not in lines[0] + " ":
            raise SystemExit(f"load: {lines[0]} for {path}")
        await reader.readexactly(int(hdrs.get("content-length", "0")))
        counts[0] += 1
        if hdrs.get("connection", "").lower() == "close" or lines[0].startswith("HTTP/1.0"):
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def loadgen(url: str, seconds: float, conns: int) -> float:
    """Requests per second against `url` with `conns` connections."""
    parts = httpx.URL(url)

    async def main() -> int:
        counts = [0]
        stop = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                _worker(parts.host, parts.port or 80, parts.raw_path.decode(), stop, counts)
                for _ in range(conns)
            )
        )
        return counts[0]

    t0 = time.perf_counter()
    n = asyncio.run(main())
    return n / (time.perf_counter() - t0)


def load_in_child(url: str, seconds: float, conns: int) -> float:
    """Requests/s from wrk when installed, else from the load generator here in its own
    process (its own core, not the bench's)."""
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{max(int(seconds), 1)}s",
             "-H", "Accept: text/html", url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        m = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
        if not m or "Non-2xx" in out.stdout:
            raise SystemExit(f"wrk against {url}:\n{out.stdout}")
        return float(m.group(1))
    out = subprocess.run(
        [PY, __file__, "--loadgen", url, "--seconds", str(seconds), "--conns", str(conns)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout)["rps"])


def wheelhouse_cmd(*args: str) -> list[str]:
    return [PY, "-m", "wheelhouse", "-q", *args]


def best_of(
    n: int, make_cmd: Callable[[int], list[str]], env: dict[str, str]
) -> tuple[float, int, str]:
    """Fastest of `n` runs (loopback figures are noisy on a small machine)."""
    return min(run_measured(make_cmd(i), env) for i in range(n))


def serve_process(root: Path, procs: list[subprocess.Popen[bytes]]) -> str:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = wheelhouse_cmd("serve", "--wheelhouse", str(root), "--port", str(port))
    procs.append(start(cmd, f"{base}/health"))
    return base


def curl_parallel(urls: list[str], jobs: int, folder: Path | None) -> list[str]:
    cmd = ["curl", "-s", "--parallel", "--parallel-max", str(jobs)]
    for u in urls:
        cmd += ["-o", str(folder / u.rsplit("/", 1)[1]) if folder else "/dev/null", u]
    return cmd


NGINX_CONF = """
worker_processes 1;
daemon off;
error_log stderr error;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/octet-stream;
    types {{ text/html html; application/json json; }}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};{tls}
        root {root};
        index index.html;
    }}
}}
"""


def start_nginx(
    root: Path, prefix: Path, procs: list[subprocess.Popen[bytes]], tls: bool = False
) -> str:
    """The same static tree under nginx (one worker, like the one `serve` process). With
    `tls`, the URL returned is an https one (HTTP/2 offered, self-signed `prefix/cert.pem`)."""
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    extra = ""
    if tls:
        tls_port = free_port()
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", str(prefix / "key.pem"), "-out", str(prefix / "cert.pem"),
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        extra = (
            f"\n        listen 127.0.0.1:{tls_port} ssl http2;"
            f"\n        ssl_certificate {prefix}/cert.pem;"
            f"\n        ssl_certificate_key {prefix}/key.pem;"
        )
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root, tls=extra))
    procs.append(
        start(["nginx", "-p", str(prefix), "-c", str(conf)], f"http://127.0.0.1:{port}/simple/")
    )
    return f"https://127.0.0.1:{tls_port}" if tls else f"http://127.0.0.1:{port}"


def run_slow_upstream(root: Path, port: int, latency_ms: float) -> None:
    """`serve`'s app with a fixed delay before every answer: a far-away index, roughly."""
    import uvicorn

    from wheelhouse.mirror.serve import MirrorApp
    from wheelhouse.mirror.serveconfig import ServeConfig

    app = MirrorApp(ServeConfig(root=root))

    async def delayed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(latency_ms / 1000)
        await app(scope, receive, send)

    uvicorn.run(delayed, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--file-mb", type=float, default=4)
    ap.add_argument("--big-mb", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0, help="per requests/s measurement")
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--latency-ms", type=float, default=20, help="for the WAN-like upstream")
    ap.add_argument(
        "--upstream",
        choices=("nginx", "serve"),
        default="nginx" if shutil.which("nginx") else "serve",
        help="what serves the downloads: nginx (static, sendfile: the least CPU taken from the"
        " client on a small machine; the default when installed) or `wheelhouse serve`",
    )
    ap.add_argument("--loadgen")
    ap.add_argument("--slow-upstream", nargs=2, metavar=("ROOT", "PORT"))
    args = ap.parse_args()
    if args.loadgen:
        print(json.dumps({"rps": loadgen(args.loadgen, args.seconds, args.conns)}))
        return
    if args.slow_upstream:
        run_slow_upstream(Path(args.slow_upstream[0]), int(args.slow_upstream[1]), args.latency_ms)
        return

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    tmp.chmod(0o755)  # nginx's workers drop to an unprivileged user and must read the tree
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[tuple[str, str, str]] = []
    try:
        up = Wheelhouse(tmp / "upstream")
        up.create()
        size = int(args.file_mb * 1e6)
        wheels = [stored_wheel(up.files, f"bench{i}", size) for i in range(args.files)]
        small = stored_wheel(up.files, "small", 20_000)
        write_index(up, {})
        total = sum(w.stat().st_size for w in wheels)
        base = serve_process(up.root, procs)  # for the requests/s rows
        if args.upstream == "nginx":
            dl_base = start_nginx(up.root, tmp / "nginx-upstream", procs)
            upstream_label = "nginx (1 worker, sendfile)"
        else:
            dl_base = base
            upstream_label = "`wheelhouse serve` (uvicorn)"
        urls = [f"{dl_base}/files/{w.name}" for w in wheels]
        lock = make_lock(wheels, dl_base, with_urls=True)
        pylock = tmp / "pylock.toml"
        pylock.write_text(render_pylock(lock))
        reqlock = tmp / "requirements.lock"
        reqlock.write_text(render_requirements(lock))

        # 1. the upstream's raw rate: curl and plain httpx, no hashing
        raw: dict[str, float] = {}
        if shutil.which("curl"):
            secs, _, _ = best_of(2, lambda i: curl_parallel(urls, args.jobs, None), env)
            raw["curl --parallel to /dev/null"] = total / secs / 1e6

            def curl_disk(i: int) -> list[str]:
                (tmp / f"curl{i}").mkdir()
                return curl_parallel(urls, args.jobs, tmp / f"curl{i}")

            secs, _, _ = best_of(2, curl_disk, env)
            raw["curl --parallel to disk, no fsync"] = total / secs / 1e6
        for tuned, how in ((False, "httpx"), (True, "httpx tuned as sync: uvloop, 1 MB reads")):
            secs = min(httpx_raw(urls, args.jobs, None, tuned) for _ in range(2))
            raw[f"{how}, bytes discarded"] = total / secs / 1e6
            secs = min(httpx_raw(urls, args.jobs, tmp / "hx", tuned) for _ in range(2))
            raw[f"{how}, + sha256 + write, no fsync"] = total / secs / 1e6
        for k, v in raw.items():
            rows.append((f"upstream raw ({k})", f"{v:8.1f} MB/s", ""))
        limit = raw["httpx, bytes discarded"]
        floor = raw["httpx, + sha256 + write, no fsync"]

        # 2. wheelhouse sync, fresh (process start, fsync and index included), then no-op
        def sync_cmd(i: int) -> list[str]:
            return wheelhouse_cmd(
                "sync", str(pylock), "--wheelhouse", str(tmp / f"wh{i}"), "--jobs", str(args.jobs),
                "--json",
            )  # fmt: skip

        secs, rss, out = best_of(2, sync_cmd, env)
        inside = json.loads(out)["seconds"]  # sync() itself: no interpreter start, no imports
        sync_rate = total / secs / 1e6
        tuned_floor = raw["httpx tuned as sync: uvloop, 1 MB reads, + sha256 + write, no fsync"]
        curl = raw.get("curl --parallel to /dev/null")
        note = (
            (f"{sync_rate / curl:.0%} of curl, " if curl else "")
            + f"{sync_rate / limit:.0%} of httpx, {sync_rate / floor:.0%} of httpx+hash+write,"
            f" {sync_rate / tuned_floor:.0%} of tuned httpx+hash+write; peak RSS {rss} MB"
        )
        rows.append(("wheelhouse sync (whole process)", f"{sync_rate:8.1f} MB/s", note))
        rows.append(
            (
                "wheelhouse sync (its own time, from --json)",
                f"{total / inside / 1e6:8.1f} MB/s",
                f"{secs - inside:.2f} s of the process is start-up and imports",
            )
        )
        nsecs, _, _ = run_measured(sync_cmd(0), env)
        rows.append(
            (f"wheelhouse sync again, nothing new ({args.files} files)", f"{nsecs:8.2f} s", "")
        )

        # 3. pip download of the same files from the same upstream
        def pip_cmd(i: int) -> list[str]:
            return [PY, "-m", "pip", "download", "--no-deps", "--require-hashes", "-q",
                    "-r", str(reqlock), "-d", str(tmp / f"pip{i}"),
                    "--index-url", f"{dl_base}/simple"]  # fmt: skip

        psecs, prss, _ = best_of(2, pip_cmd, env)
        pip_rate = total / psecs / 1e6
        note = f"sync is {sync_rate / pip_rate:.1f}x; peak RSS {prss} MB"
        rows.append(("pip download --no-deps --require-hashes", f"{pip_rate:8.1f} MB/s", note))

        # 3a. over TLS, where HTTP/2 can be negotiated: sync's default (HTTP/1.1) and --http2
        if shutil.which("nginx") and shutil.which("openssl"):
            tbase = start_nginx(up.root, tmp / "nginx-tls", procs, tls=True)
            tlock = tmp / "pylock.tls.toml"
            tlock.write_text(render_pylock(make_lock(wheels, tbase, with_urls=True)))
            tenv = {**env, "PIP_CERT": str(tmp / "nginx-tls" / "cert.pem")}
            helptext = subprocess.run(
                [*wheelhouse_cmd("sync", "--help")], capture_output=True, text=True, env=env
            ).stdout
            variants: list[tuple[tuple[str, ...], str]] = [((), "default options")]
            if "--http2" in helptext:  # (a wheelhouse before it had the option: always h2)
                variants.append((("--http2",), "--http2"))
            for flag, label in variants:

                def tls_cmd(i: int, flag: tuple[str, ...] = flag) -> list[str]:
                    dest = tmp / f"whtls{len(flag)}{i}"
                    return wheelhouse_cmd("sync", str(tlock), "--wheelhouse", str(dest), *flag)

                secs, _, _ = best_of(2, tls_cmd, tenv)
                rate = total / secs / 1e6
                rows.append((f"wheelhouse sync over TLS ({label})", f"{rate:8.1f} MB/s", ""))

        # 3b. the same two against an upstream that answers each request after a delay
        lport = free_port()
        lbase = f"http://127.0.0.1:{lport}"
        slow = [PY, __file__, "--slow-upstream", str(up.root), str(lport),
                "--latency-ms", str(args.latency_ms)]  # fmt: skip
        procs.append(start(slow, f"{lbase}/health"))
        lpylock = tmp / "pylock.slow.toml"
        lpylock.write_text(render_pylock(make_lock(wheels, lbase, with_urls=True)))
        secs, _, _ = run_measured(
            wheelhouse_cmd("sync", str(lpylock), "--wheelhouse", str(tmp / "whslow"),
                           "--jobs", str(args.jobs)), env,
        )  # fmt: skip
        slow_sync = total / secs / 1e6
        secs, _, _ = run_measured(
            [PY, "-m", "pip", "download", "--no-deps", "--require-hashes", "-q", "-r",
             str(reqlock), "-d", str(tmp / "pipslow"), "--index-url", f"{lbase}/simple"], env,
        )  # fmt: skip
        slow_pip = total / secs / 1e6
        label = f"+{args.latency_ms:.0f} ms per request upstream"
        rows.append((f"wheelhouse sync, {label}", f"{slow_sync:8.1f} MB/s", ""))
        note = f"sync is {slow_sync / slow_pip:.1f}x"
        rows.append((f"pip download, {label}", f"{slow_pip:8.1f} MB/s", note))

        # 4. requests/s: serve vs python -m http.server on the same tree
        sport = free_port()
        sbase = f"http://127.0.0.1:{sport}"
        static = [PY, "-m", "http.server", str(sport), "--bind", "127.0.0.1",
                  "--directory", str(up.root)]  # fmt: skip
        procs.append(start(static, f"{sbase}/simple/"))
        nbase = start_nginx(up.root, tmp / "nginx", procs) if shutil.which("nginx") else None
        for label, path in (
            ("index page /simple/bench0/", "/simple/bench0/"),
            ("file 20 KB wheel", f"/files/{small.name}"),
        ):
            ours = load_in_child(base + path, args.seconds, args.conns)
            theirs = load_in_child(sbase + path, args.seconds, args.conns)
            note = f"http.server {theirs:.0f} req/s ({ours / theirs:.0%})"
            if nbase:
                ng = load_in_child(nbase + path, args.seconds, args.conns)
                note += f"; nginx (1 worker) {ng:.0f} req/s ({ours / ng:.0%})"
            rows.append((f"serve: {label}", f"{ours:8.0f} req/s", note))

        # 5. peak memory of sync with one big wheel
        if args.big_mb:
            big = stored_wheel(up.files, "big", args.big_mb * 1_000_000)
            write_index(up, {})
            biglock = tmp / "pylock.big.toml"
            biglock.write_text(render_pylock(make_lock([big], dl_base, True)))
            cmd = wheelhouse_cmd("sync", str(biglock), "--wheelhouse", str(tmp / "whbig"))
            secs, rss, _ = run_measured(cmd, env)
            rate = big.stat().st_size / secs / 1e6
            rows.append(
                (f"sync of one {args.big_mb} MB wheel", f"{rate:8.1f} MB/s", f"peak RSS {rss} MB")
            )
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\nmirror bench: {args.files} x {args.file_mb} MB wheels, --jobs {args.jobs}, "
        f"{os.cpu_count()} CPUs, loopback; upstream = {upstream_label}"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value}  {note}")


if __name__ == "__main__":
    main()

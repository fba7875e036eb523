"""Index pages per second, side by side in one run on loopback, over one static tree:

  plain nginx         the static tree as files (no negotiation: always the HTML page)
  nginx-config        `wheelhouse nginx-config --standalone`: PEP 691 negotiation in maps
  wheelhouse serve    the built-in server, started through the CLI with its default workers

Aims: the generated configuration >= 0.95x plain nginx; serve >= 0.4x plain nginx. Both
nginx run `worker_processes auto`. The load comes from wrk (installed with apt when missing
and possible), else from bench_mirror's load generator in its own process. Rounds alternate
between the servers and the best of each is kept (a shared machine is noisy).

Run: .venv/bin/python bench/bench_nginx.py [--seconds 5] [--rounds 3] [--conns 64]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_mirror import PY, free_port, start, stored_wheel

from wheelhouse.mirror.nginx import PIP_ACCEPT
from wheelhouse.mirror.static_index import write_index
from wheelhouse.store.layout import Wheelhouse

# a header no client sends: the general negotiation (regular expressions), not the lookup
OTHER_ACCEPT = "application/vnd.pypi.simple.v1+json;q=0.9, text/html;q=0.8"
PLAIN_CONF = """
worker_processes auto;
daemon off;
pid {run}/nginx.pid;
error_log stderr error;
pcre_jit on;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 2s;
    types {{ text/html html; application/json json; }}
    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


def tree(root: Path, projects: int) -> Wheelhouse:
    """A wheelhouse of `projects` one-wheel projects, with its static index."""
    house = Wheelhouse(root)
    house.create()
    for i in range(projects):
        stored_wheel(house.files, f"bench{i}", 2000)
    write_index(house, {})
    return house


def wrk() -> str | None:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
            env=env,
            capture_output=True,
        )
        found = shutil.which("wrk")
    return found


def load(url: str, accept: str, seconds: float, conns: int, tool: str | None) -> float:
    """Requests/s for `url` with this Accept header; every answer must be a 200."""
    if tool:
        out = subprocess.run(
            [tool, "-t2", f"-c{conns}", f"-d{max(int(seconds), 1)}s", "-H", f"Accept: {accept}",
             url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        m = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
        if not m or "Non-2xx" in out.stdout:
            raise SystemExit(f"wrk against {url}:\n{out.stdout}")
        return float(m.group(1))
    # bench_mirror's generator (it sends Accept: text/html) in its own process
    out = subprocess.run(
        [PY, str(Path(__file__).with_name("bench_mirror.py")), "--loadgen", url,
         "--seconds", str(seconds), "--conns", str(conns)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r'"rps":\s*([\d.]+)', out.stdout).group(1))  # type: ignore[union-attr]


def start_nginx(conf: Path, run: Path, procs: list[subprocess.Popen[bytes]], port: int) -> str:
    procs.append(
        start(["nginx", "-p", str(run), "-c", str(conf)], f"http://127.0.0.1:{port}/health")
    )
    return f"http://127.0.0.1:{port}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--projects", type=int, default=200)
    args = ap.parse_args()
    if not shutil.which("nginx"):
        print("nginx is not installed: nothing to compare (apt-get install nginx)")
        return 0
    tool = wrk()
    tmp = Path(tempfile.mkdtemp(prefix="wh-bench-nginx-"))
    tmp.chmod(0o755)  # nginx's workers (an unprivileged user under root) read the tree
    procs: list[subprocess.Popen[bytes]] = []
    try:
        house = tree(tmp / "wh", args.projects)
        for path in (tmp, *tmp.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        # plain nginx (its /health is a 404: `start` only waits for an answer below 500)
        plain_run = tmp / "plain"
        plain_run.mkdir()
        plain_port = free_port()
        plain_conf = tmp / "plain.conf"
        plain_conf.write_text(PLAIN_CONF.format(run=plain_run, port=plain_port, root=house.root))
        plain = start_nginx(plain_conf, plain_run, procs, plain_port)
        # the generated configuration
        gen_run = tmp / "gen"
        gen_run.mkdir()
        gen_port = free_port()
        gen_conf = tmp / "gen.conf"
        subprocess.run(
            [PY, "-m", "wheelhouse", "-q", "nginx-config", "--wheelhouse", str(house.root),
             "--standalone", "--runtime-dir", str(gen_run),
             "--listen", f"127.0.0.1:{gen_port}", "-o", str(gen_conf)],
            check=True,
        )  # fmt: skip
        generated = start_nginx(gen_conf, gen_run, procs, gen_port)
        # wheelhouse serve, default workers, through the CLI
        serve_port = free_port()
        serve_cmd = [PY, "-m", "wheelhouse", "-q", "serve", "--wheelhouse", str(house.root),
                     "--port", str(serve_port)]  # fmt: skip
        procs.append(start(serve_cmd, f"http://127.0.0.1:{serve_port}/health"))
        serve = f"http://127.0.0.1:{serve_port}"

        page = "/simple/bench7/"
        cases = {
            "plain nginx (static index.html)": (plain, PIP_ACCEPT),
            "nginx-config, pip's Accept": (generated, PIP_ACCEPT),
            "nginx-config, other Accept (q-values)": (generated, OTHER_ACCEPT),
            "wheelhouse serve, default workers": (serve, PIP_ACCEPT),
        }
        best = dict.fromkeys(cases, 0.0)
        for _ in range(args.rounds):
            for label, (base, accept) in cases.items():
                rps = load(base + page, accept, args.seconds, args.conns, tool)
                best[label] = max(best[label], rps)
        ref = best["plain nginx (static index.html)"]
        print(f"\nindex page {page}, best of {args.rounds} x {args.seconds:g} s, "
              f"{args.conns} connections, load: {'wrk -t2' if tool else 'python loadgen'}, "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        print(f"{'server':42} {'req/s':>10} {'vs plain':>9}  aim")
        aims = {
            "nginx-config, pip's Accept": 0.95,
            "nginx-config, other Accept (q-values)": None,
            "wheelhouse serve, default workers": 0.4,
        }
        for label, rps in best.items():
            aim = aims.get(label)
            mark = (
                "" if aim is None else (f">= {aim}x " + ("met" if rps >= aim * ref else "MISSED"))
            )
            print(f"{label:42} {rps:10.0f} {rps / ref:8.2f}x  {mark}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

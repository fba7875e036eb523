"""A sync into Azure Blob Storage (Azurite on loopback) beside a sync into a local folder,
same lock, same upstream, same session: fresh, then again with nothing new; and the local
copy `install --wheelhouse az://…` reads from, fresh and up to date.

Run: .venv/bin/python bench/bench_blob.py [--files 16] [--file-mb 4] [--big-mb 64]

Azurite (npm package `azurite`, `make azurite` puts it in .ci/node) keeps blobs on the local
disk, so the blob figures are wheelhouse's own cost plus Azurite's (node, one core), not a
real account's network: an upper bound on what the code can do, a lower one on a region's
round trips.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_mirror import (  # noqa: E402 (bench/ is this script's folder)
    PY,
    best_of,
    make_lock,
    run_measured,
    serve_process,
    start_nginx,
    stored_wheel,
    wheelhouse_cmd,
)

from tests.azurite import azurite, connection_string, find_azurite  # noqa: E402
from wheelhouse.mirror.static_index import write_index  # noqa: E402
from wheelhouse.model.pylock import render_pylock  # noqa: E402
from wheelhouse.store.layout import Wheelhouse  # noqa: E402


def make_container(conn: str) -> str:
    import asyncio

    from azure.storage.blob.aio import BlobServiceClient

    name = f"bench-{uuid.uuid4().hex[:12]}"

    async def make() -> None:
        async with BlobServiceClient.from_connection_string(conn) as service:
            await service.create_container(name)

    asyncio.run(make())
    return name


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--file-mb", type=float, default=4)
    ap.add_argument("--big-mb", type=int, default=64, help="one wheel uploaded in blocks")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    binary = find_azurite()
    if binary is None:
        print("blob bench: skipped, no azurite-blob (make azurite, which needs npm)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-blob-"))
    tmp.chmod(0o755)  # nginx's workers must read the tree
    procs: list = []
    rows: list[tuple[str, str, str]] = []
    try:
        up = Wheelhouse(tmp / "upstream")
        up.create()
        size = int(args.file_mb * 1e6)
        wheels = [stored_wheel(up.files, f"bench{i}", size) for i in range(args.files)]
        if args.big_mb:
            wheels.append(stored_wheel(up.files, "big", args.big_mb * 1_000_000))
        write_index(up, {})
        total = sum(w.stat().st_size for w in wheels)
        base = (
            start_nginx(up.root, tmp / "nginx", procs)
            if shutil.which("nginx")
            else serve_process(up.root, procs)
        )
        pylock = tmp / "pylock.toml"
        pylock.write_text(render_pylock(make_lock(wheels, base, with_urls=True)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
        env.update(PIP_CONFIG_FILE=os.devnull, WHEELHOUSE_CACHE_DIR=str(tmp / "cache"))
        with azurite(binary, tmp / "azurite") as port:
            conn = connection_string(port)
            env["AZURE_STORAGE_CONNECTION_STRING"] = conn
            targets = {
                "local folder": lambda i: str(tmp / f"wh{i}"),
                "az:// (Azurite)": lambda i: f"az://{make_container(conn)}/wh",
            }
            for label, where in targets.items():
                made: list[str] = []

                def fresh(i: int, where=where, made=made) -> list[str]:
                    made.append(where(i))
                    cmd = ["sync", str(pylock), "--wheelhouse", made[-1], "--json"]
                    return wheelhouse_cmd(*cmd, "--jobs", str(args.jobs))

                secs, rss, out = best_of(args.runs, fresh, env)
                inside = json.loads(out)["seconds"]
                rows.append(
                    (
                        f"sync into {label}",
                        f"{secs:6.2f} s",
                        f"{total / secs / 1e6:.1f} MB/s whole process, {total / inside / 1e6:.1f}"
                        f" MB/s in sync(); peak RSS {rss} MB",
                    )
                )
                again = wheelhouse_cmd("sync", str(pylock), "--wheelhouse", made[-1])
                nsecs, _, _ = min(run_measured(again, env) for _ in range(args.runs))
                rows.append((f"sync into {label} again, nothing new", f"{nsecs:6.2f} s", ""))
            # the local copy install/verify/image-env read an az:// wheelhouse through
            copy = [PY, "-c", "import sys; from pathlib import Path; "
                    "from wheelhouse.store.copy import local_wheelhouse; "
                    "local_wheelhouse(sys.argv[1], Path(sys.argv[2]))", made[-1],
                    str(tmp / "cache")]  # fmt: skip
            csecs, _, _ = run_measured(copy, env)
            rows.append(("local copy of the az:// wheelhouse, fresh", f"{csecs:6.2f} s", ""))
            usecs, _, _ = run_measured(copy, env)
            rows.append(("local copy again, up to date", f"{usecs:6.2f} s", ""))
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\nblob bench: {args.files} x {args.file_mb} MB wheels"
        + (f" + one of {args.big_mb} MB" if args.big_mb else "")
        + f" ({total / 1e6:.0f} MB), --jobs {args.jobs}, {os.cpu_count()} CPUs, loopback,"
        f" best of {args.runs}"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

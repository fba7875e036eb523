"""`wheelhouse nginx-config --wheelhouse DIR`: an nginx configuration serving DIR as `serve`
would (PEP 691 negotiation, ETags, Range, PEP 658 metadata, optional Basic auth)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "nginx-config",
        help="write an nginx configuration that serves a wheelhouse",
        description="Print (or write with -o) an nginx configuration serving DIR's static "
        "index and files with PEP 691 content negotiation, as `serve` does. By default an "
        "http-level part for conf.d/; --standalone makes a whole nginx.conf.",
    )
    p.add_argument(
        "--wheelhouse", required=True, type=Path, metavar="DIR", help="a folder synced into"
    )
    p.add_argument(
        "--listen",
        action="append",
        metavar="[HOST:]PORT",
        help="where nginx listens (repeatable; 8080)",
    )
    p.add_argument("--server-name", default="_", metavar="NAME", help="server_name (_)")
    p.add_argument(
        "--basic-auth-file",
        type=Path,
        metavar="FILE",
        help="require Basic auth with this htpasswd file (/health and /ready stay open)",
    )
    p.add_argument(
        "--standalone",
        action="store_true",
        help="a whole nginx.conf (events, http, pid) for `nginx -p RUNTIME -c FILE`",
    )
    p.add_argument(
        "--runtime-dir",
        type=Path,
        metavar="DIR",
        help="with --standalone: pid file and temporary folders",
    )
    p.add_argument(
        "--worker-processes", default="auto", metavar="N", help="with --standalone (auto)"
    )
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.files import atomic_write
    from wheelhouse.mirror.nginx import NginxOptions, render_nginx_config

    options = NginxOptions(
        # an az:// URL is kept as given, for the library to refuse by name
        wheelhouse=args.wheelhouse
        if str(args.wheelhouse).lower().startswith("az:")
        else args.wheelhouse.absolute(),
        listen=tuple(args.listen or ["8080"]),
        server_name=args.server_name,
        basic_auth_file=args.basic_auth_file.absolute() if args.basic_auth_file else None,
        standalone=args.standalone,
        runtime_dir=args.runtime_dir.absolute() if args.runtime_dir else None,
        worker_processes=args.worker_processes,
    )
    text = render_nginx_config(options)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    atomic_write(args.output, text)
    log.info("wrote %s", args.output)
    return 0

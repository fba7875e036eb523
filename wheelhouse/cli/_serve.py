"""`wheelhouse serve --wheelhouse DIR`: the wheelhouse's index and files over HTTP."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("wheelhouse")
TOKEN_ENV = "WHEELHOUSE_SERVE_TOKEN"  # = wheelhouse.mirror.serve.ENV_TOKEN
BASIC_ENV = "WHEELHOUSE_SERVE_BASIC_AUTH"  # USER:PASSWORD, kept out of `ps`


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve a wheelhouse to pip and uv (read-only)")
    p.add_argument("--wheelhouse", required=True, type=Path, metavar="DIR")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes (1; one per core)"
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument(
        "--token", help=f"require this token (Bearer, or as any user's password); or ${TOKEN_ENV}"
    )
    auth.add_argument(
        "--basic-auth",
        metavar="USER:PASSWORD",
        help=f"require Basic auth; or ${BASIC_ENV} (not visible to ps)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.errors import UsageError
    from wheelhouse.mirror.serve import (
        ServeConfig,
        check_can_listen,
        parse_basic_auth,
        run_server,
    )

    root: Path = args.wheelhouse
    if not (root / "simple").is_dir():
        raise UsageError(f"{root} has no simple/ index: run `wheelhouse sync` into it first")
    basic_text = args.basic_auth or (None if args.token else os.environ.get(BASIC_ENV) or None)
    token = args.token or (None if basic_text else os.environ.get(TOKEN_ENV) or None)
    basic = parse_basic_auth(basic_text) if basic_text else None
    check_can_listen(args.host, args.port)
    log.info(
        "serving %s on http://%s:%d/simple/%s",
        root,
        args.host,
        args.port,
        " (authentication required)" if token or basic else "",
    )
    level = logging.getLogger("wheelhouse").getEffectiveLevel()
    run_server(
        ServeConfig(root=root, token=token, basic_auth=basic),
        args.host,
        args.port,
        log_level="warning" if level > logging.INFO else "info",
        workers=args.workers,
    )
    return 0

"""`wheelhouse serve --wheelhouse DIR`: the wheelhouse's index and files over HTTP."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wheelhouse.cli._common import port, positive_int
from wheelhouse.errors import UsageError
from wheelhouse.mirror.serveconfig import ENV_BASIC, ENV_TOKEN, LOG_FORMATS, serve_config

log = logging.getLogger("wheelhouse")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a wheelhouse to pip and uv (read-only)",
        description="Serve a wheelhouse's simple index (PEP 503 HTML, PEP 691 JSON, PEP 658 "
        "metadata) and files over HTTP, read-only, until interrupted.",
    )
    p.add_argument(
        "--wheelhouse",
        required=True,
        metavar="DIR|az://CONTAINER/PREFIX",
        help="a folder synced into, or Azure Blob Storage (credentials from "
        "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_URL with azure-identity)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=port, default=8080, help="TCP port, 1 to 65535 (8080)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="worker processes (default: one per CPU this process may use, within its CPU quota)",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="access log and the tool's own lines as text (default) or one JSON object a line",
    )
    p.add_argument(
        "--ready-max-age",
        type=_seconds,
        metavar="SECONDS",
        help="/ready answers 503 when the last sync finished longer ago than this",
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument(
        "--token", help=f"require this token (Bearer, or as any user's password); or ${ENV_TOKEN}"
    )
    auth.add_argument(
        "--basic-auth",
        metavar="USER:PASSWORD",
        help=f"require Basic auth; or ${ENV_BASIC} (not visible to ps)",
    )
    auth.add_argument(
        "--token-env",
        metavar="NAME",
        help=f"read the token from the environment variable NAME (must be set; default "
        f"${ENV_TOKEN}, if set)",
    )
    auth.add_argument(
        "--basic-auth-env",
        metavar="NAME",
        help=f"read USER:PASSWORD from the environment variable NAME (must be set; default "
        f"${ENV_BASIC}, if set)",
    )
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):  # 0 would mean never ready
        raise argparse.ArgumentTypeError(f"wants a positive number of seconds, not {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from wheelhouse.mirror.serve import check_can_listen, run_server
    from wheelhouse.store.location import is_remote

    config = serve_config(
        args.wheelhouse if is_remote(args.wheelhouse) else Path(args.wheelhouse),
        args.token,
        args.basic_auth,
        env=None  # a credential given as a flag wins over any variable
        if args.token is not None or args.basic_auth is not None
        else secrets_env(args.token_env, args.basic_auth_env),
        log_format=args.log_format,
        ready_max_age=args.ready_max_age,
    )
    if args.log_format == "json":
        from wheelhouse.logformat import JsonFormatter

        for handler in log.handlers:
            handler.setFormatter(JsonFormatter())
    check_can_listen(args.host, args.port)
    log.info(
        "serving %s on http://%s:%d/simple/%s",
        config.root,
        args.host,
        args.port,
        " (authentication required)" if config.requires_auth else "",
    )
    level = logging.getLogger("wheelhouse").getEffectiveLevel()
    run_server(
        config,
        args.host,
        args.port,
        log_level="warning" if level > logging.INFO else "info",
        workers=args.workers,
    )
    return 0


def secrets_env(token_env: str | None, basic_env: str | None) -> Mapping[str, str]:
    """The environment serve reads its credentials from, with the variables named by
    --token-env / --basic-auth-env (or the configuration) standing in for the default
    ones. A variable named so must be set: a missing secret does not open the index."""
    if token_env is None and basic_env is None:
        return os.environ
    env = {k: v for k, v in os.environ.items() if k not in (ENV_TOKEN, ENV_BASIC)}
    for name, standard in ((token_env, ENV_TOKEN), (basic_env, ENV_BASIC)):
        if name is None:
            continue
        if name not in os.environ:
            raise UsageError(f"${name} is not set: it should hold serve's credentials")
        env[standard] = os.environ[name]
    return env

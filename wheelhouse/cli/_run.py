"""wheelhouse run: start a score folder as the image would, offline, and print the answer."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from wheelhouse.errors import UsageError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="emulate the image's start on a score folder and call init()/run()",
        description="Read AZUREML_EXTRA_PYTHON_LIB_PATH or AZUREML_EXTRA_REQUIREMENTS_TXT "
        "(relative to the score script's folder), apply it as the image does, "
        "import the entry script, call init() and run() with a sample request.",
    )
    p.add_argument(
        "app_root",
        type=Path,
        metavar="SCORE_DIR",
        help="the app root (AML_APP_ROOT) holding the entry script",
    )
    p.add_argument("--python", help="the image stand-in's interpreter (wheelhouse image-env)")
    p.add_argument("--data", help="the raw request (default: sample-request.json)")
    p.add_argument("--data-file", type=Path, help="file holding the raw request")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set AZUREML_* variables for the start (default: from the environment)",
    )
    p.add_argument("--index-url", help="the internal mirror, for AZUREML_EXTRA_REQUIREMENTS_TXT")
    p.add_argument("--find-links", action="append", default=[], metavar="PATH")
    p.add_argument("--json", action="store_true", help="print only the answer as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wheelhouse.image.run import answer_json, read_request, run_score
    from wheelhouse.net.urls import check_source

    if args.index_url:
        check_source(args.index_url, "--index-url")
    for url in args.find_links:
        check_source(url, "--find-links", folder=False)
    env = {k: v for k, v in os.environ.items() if k.startswith(("AZUREML_", "AML_"))}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--env wants NAME=VALUE, not {item!r}")
        env[name] = value
    python = args.python or shutil.which("python3")
    if not python:
        raise UsageError("no interpreter: give --python (the image stand-in's)")
    result = run_score(
        args.app_root,
        python,
        read_request(args.data, args.data_file, args.app_root),
        env,
        index_url=args.index_url,
        find_links=tuple(args.find_links),
    )
    if not args.json:
        for line in result.log:
            print(line, file=sys.stderr)
    if result.exit_code != 0:
        if result.stdout.strip():
            print(result.stdout.rstrip(), file=sys.stderr)
        if result.stderr.strip():
            print(result.stderr.rstrip(), file=sys.stderr)
        print(f"error: the start failed with exit code {result.exit_code}", file=sys.stderr)
        return result.exit_code
    answer = answer_json(result.answer or "")
    print(json.dumps(answer, indent=None if args.json else 2))
    return 0

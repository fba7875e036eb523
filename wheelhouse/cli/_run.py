"""wheelhouse run: start a score folder as the image would, offline, and print the answer."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from wheelhouse.errors import UsageError, WheelhouseError

log = logging.getLogger("wheelhouse")


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
    p.add_argument(
        "--python",
        help="the image stand-in's interpreter (wheelhouse image-env), or a version such as "
        "3.7; refused unless it is the image's Python X.Y (default: one of that X.Y, with "
        "a warning)",
    )
    p.add_argument(
        "--image",
        metavar="PROFILE",
        help="the image's profile, for its Python version (default: the one the stand-in "
        "was built for, else the built-in profile)",
    )
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
    from wheelhouse.image.run import (
        answer_json,
        check_app_root,
        choose_interpreter,
        read_request,
        run_score,
    )
    from wheelhouse.model.profile import load_profile

    check_app_root(args.app_root)
    env = _start_env(args)
    profile = load_profile(args.image) if args.image else None
    python = choose_interpreter(args.python, profile)
    result = run_score(
        args.app_root,
        python,
        read_request(args.data, args.data_file, args.app_root),
        env,
        index_url=args.index_url,
        find_links=tuple(args.find_links),
    )
    for line in result.log:
        log.info("%s", line)
    if result.exit_code != 0:
        for text in (result.stdout.strip(), result.stderr.strip()):
            if text:
                log.error("%s", text)
        raise StartFailed(result.exit_code)
    answer = answer_json(result.answer or "")
    print(json.dumps(answer, indent=None if args.json else 2))
    return 0


def _start_env(args: argparse.Namespace) -> dict[str, str]:
    """The AZUREML_* variables of the start: the environment's, then --env; sources checked."""
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
    return env


class StartFailed(WheelhouseError):
    """The start failed; its exit code is the image's (97, 99, 95) or the script's."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the start failed with exit code {code}")
        self.exit_code = code

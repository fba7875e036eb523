"""What the deploy/ tests share: the repository's deploy/ folder and the external tools they
run, skipped with a message where missing (a failure under CI=true, where .ci/run installs
them)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from wheelhouse.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def need(tool: str, why: str) -> str:
    """The path of `tool` (on PATH or beside this interpreter), else skip (fail under CI)."""
    found = shutil.which(tool) or shutil.which(tool, path=str(Path(sys.executable).parent))
    if found:
        return found
    message = f"{tool} is not installed ({why}; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def command_options(command: str) -> set[str]:
    """The option strings `wheelhouse COMMAND` accepts."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices[command]._option_string_actions)


def parse_cli(argv: Sequence[str]) -> argparse.Namespace:
    """`wheelhouse ARGV...` parsed by wheelhouse's own parser (a bad option fails the test)."""
    return build_parser().parse_args(list(argv))

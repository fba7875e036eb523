"""What the deploy/ tests share: the repository's deploy/ folder and the external tools they
run, skipped with a message where missing (a failure under CI=true, where .ci/run installs
them)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

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

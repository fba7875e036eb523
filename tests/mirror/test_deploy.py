"""deploy/: the dynamic-install recipe installs from a real `serve` (the other pieces of
deploy/ are tested in tests/deploy/)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.clients import Client
from tests.helpers import config_for, make_lock, run_mirror, upstream, write_pylock
from tests.wheelfactory import make_wheel
from wheelhouse.mirror.serveconfig import ServeConfig
from wheelhouse.mirror.sync import sync

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RECIPE = DEPLOY / "dynamic-install"

# stand-ins for the two packages the recipe names, with just what score.py calls
FAKES = {
    "tabulate": {
        "tabulate.py": "def tabulate(rows, tablefmt='plain'):\n"
        "    return '\\n'.join(' '.join(str(c) for c in r) for r in rows)\n"
    },
    "humanize": {"humanize/__init__.py": "def intcomma(n):\n    return '{:,}'.format(n)\n"},
}


def _recipe_pins() -> list[tuple[str, str]]:
    text = (RECIPE / "score" / "requirements.txt").read_text()
    return re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)


def _install_recipe(python: str, tmp_path: Path, serve: Any) -> Path:
    pins = _recipe_pins()
    assert {name for name, _ in pins} == set(FAKES)
    wheels = [
        make_wheel(tmp_path / "w", name, version, files=FAKES[name]) for name, version in pins
    ]
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    assert sync([lock], tmp_path / "wh", config=config_for(url)).ok
    target = tmp_path / "site"
    with run_mirror(ServeConfig(root=tmp_path / "wh")) as mirror:
        conf = (RECIPE / "pip.conf").read_text()
        conf = conf.replace("http://wheelhouse.internal:8080", mirror)
        conf = conf.replace("trusted-host = wheelhouse.internal", "trusted-host = 127.0.0.1")
        assert mirror in conf
        (tmp_path / "pip.conf").write_text(conf)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env.update(PIP_CONFIG_FILE=str(tmp_path / "pip.conf"), PIP_NO_CACHE_DIR="1")
        # what the image does with AZUREML_EXTRA_REQUIREMENTS_TXT (into a folder here)
        cmd = [python, "-m", "pip", "install", "-r",
               str(RECIPE / "score" / "requirements.txt"), "--target", str(target)]  # fmt: skip
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
    return target


def _run_score(python: str, target: Path) -> str:
    code = (
        "import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import score; score.init(); print(json.dumps(score.run(json.dumps("
        "{'rows': [[1, 2], [3, 4]]}))))"
    )
    out = subprocess.run(
        [python, "-c", code, str(target), str(RECIPE / "score")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_recipe_with_pip_311(tmp_path: Path, serve: Any) -> None:
    target = _install_recipe(sys.executable, tmp_path, serve)
    assert '"rows": "2"' in _run_score(sys.executable, target)


@pytest.mark.py37
@pytest.mark.live
@pytest.mark.parametrize("client_id", ["pip-20.2-py37", "pip-newest-py37"])
def test_recipe_with_python37(
    client_id: str, tmp_path: Path, serve: Any, python37: str, clients: Callable[[str], Client]
) -> None:
    """With the image's pip (20.2, the oldest the images ship) and the newest for 3.7, each
    in its own venv of the real 3.7 (tests/clients.py)."""
    pip_python = clients(client_id).program[0]
    target = _install_recipe(pip_python, tmp_path, serve)
    assert '"table": "1 2\\n3 4"' in _run_score(python37, target)

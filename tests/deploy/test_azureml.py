"""deploy/azureml/: the SDK v1 and CLI/SDK v2 examples set the image's variables to what
`wheelhouse install` produces and `wheelhouse run` (the image's start, stood in) expects:
the lib path is the site-packages folder of an artifact installed beside the score script,
the requirements file is a lock that installs from the internal index."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.tools import DEPLOY
from tests.helpers import (
    config_for,
    make_lock,
    run_mirror,
    upstream,
    write_pylock,
    write_requirements,
)
from tests.localserver import serve_folder
from tests.wheelfactory import make_wheel
from wheelhouse.artifact.install import install_lock
from wheelhouse.image.run import run_score
from wheelhouse.mirror.serveconfig import ServeConfig
from wheelhouse.mirror.sync import sync
from wheelhouse.model.lock import Lock
from wheelhouse.model.lockfiles import load_lock

AZUREML = DEPLOY / "azureml"
LIB = "AZUREML_EXTRA_PYTHON_LIB_PATH"
REQ = "AZUREML_EXTRA_REQUIREMENTS_TXT"
# what score.py calls of the package it needs, as a stand-in wheel (the tests are offline)
FAKE = {"tabulate.py": "def tabulate(rows, tablefmt='plain'):\n"
        "    return '\\n'.join(' '.join(str(c) for c in r) for r in rows)\n"}  # fmt: skip


def _v1(path: Path) -> dict[str, Any]:
    """An SDK v1 example: its image, environment variables and InferenceConfig arguments
    (module constants such as IMAGE resolved)."""
    tree = ast.parse(path.read_text())
    constants: dict[str, Any] = {}
    found: dict[str, Any] = {}

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return constants[node.id]
        return ast.literal_eval(node)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant):
                constants[node.targets[0].id] = node.value.value
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            found[node.targets[0].attr] = value(node.value)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "InferenceConfig":
            found["inference"] = {
                k.arg: value(k.value) for k in node.keywords if k.arg != "environment"
            }
    assert found["user_managed_dependencies"] is True  # the image's Python, as it is
    return {
        "image": found["base_image"],
        "variables": found["environment_variables"],
        "code": path.parent / found["inference"]["source_directory"],
        "script": found["inference"]["entry_script"],
    }


def _v2(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    env_name = doc["environment"].removeprefix("azureml:").rsplit(":", 1)
    environment = yaml.safe_load((path.parent / "environment.yml").read_text())
    assert env_name == [environment["name"], environment["version"]]
    return {
        "image": environment["image"],
        "variables": doc["environment_variables"],
        "code": path.parent / doc["code_configuration"]["code"],
        "script": doc["code_configuration"]["scoring_script"],
    }


def _examples() -> dict[str, dict[str, Any]]:
    found = {p.name: _v1(p) for p in sorted((AZUREML / "sdk-v1").glob("*.py"))}
    found.update({p.name: _v2(p) for p in sorted((AZUREML / "cli-v2").glob("deployment-*.yml"))})
    return found


def test_both_modes_in_both_forms() -> None:
    examples = _examples()
    for form in ("deploy_", "deployment-"):
        modes = [
            LIB in e["variables"] or REQ in e["variables"]
            for n, e in examples.items()
            if n.startswith(form)
        ]
        assert len(modes) == 2 and all(modes), form
        with_lib = [n for n, e in examples.items() if n.startswith(form) and LIB in e["variables"]]
        assert len(with_lib) == 1, form  # the image applies only one: one example each
    images = {e["image"] for e in examples.values()}
    assert len(images) == 1 and re.search(r"-py37-(cpu|gpu)-inference", images.pop())
    for name, e in examples.items():
        assert (e["code"] / e["script"]).is_file(), name
        assert not (LIB in e["variables"] and REQ in e["variables"]), name
        if REQ in e["variables"]:
            index = e["variables"]["PIP_INDEX_URL"]
            assert urlsplit(index).path.rstrip("/").endswith("/simple"), name
            assert e["variables"].get("PIP_TRUSTED_HOST") in (None, urlsplit(index).hostname)


def test_committed_lock_pins_every_file_by_hash() -> None:
    lock = load_lock(AZUREML / "score" / "requirements.lock")
    assert lock.pins and lock.target.python_minor == "3.7"
    assert all(f.hashes.get("sha256") for pin in lock.pins for f in pin.files)


def _score_world(tmp_path: Path) -> tuple[Path, Path, Lock]:
    """A copy of the score folder, and a wheelhouse synced with a stand-in of each package
    the committed lock pins (same names and versions), locked as the test's own lock."""
    app = tmp_path / "app"
    shutil.copytree(AZUREML / "score", app)
    committed = load_lock(AZUREML / "score" / "requirements.lock")
    wheels = [make_wheel(tmp_path / "w", p.name, p.version, files=FAKE) for p in committed.pins]
    with serve_folder(upstream(tmp_path, wheels).root) as (url, _):
        lock = make_lock(wheels, url)
        pylock = write_pylock(tmp_path / "pylock.toml", lock)
        assert sync([pylock], tmp_path / "wh", config=config_for(url)).ok
    return app, tmp_path / "wh", lock


def _request(app: Path) -> str:
    return (app / "sample-request.json").read_text()


@pytest.mark.parametrize("name", ["deploy_lib_path.py", "deployment-lib-path.yml"])
def test_lib_path_is_what_install_makes(name: str, tmp_path: Path) -> None:
    example = _examples()[name]
    lib = example["variables"][LIB]
    app, wheelhouse, lock = _score_world(tmp_path)
    # the artifact's folder beside the score script, as the example's comments say
    folder = app / Path(lib).parts[0]
    result = install_lock(lock, wheelhouse, folder)
    assert (app / lib).resolve() == result.layout.site_packages.resolve()
    assert (app / lib / "tabulate.py").is_file()


@pytest.mark.py37
@pytest.mark.parametrize("name", ["deploy_lib_path.py", "deployment-lib-path.yml"])
def test_lib_path_runs(name: str, tmp_path: Path, python37: str) -> None:
    """`wheelhouse run` with the example's variables: the score answers from the folder."""
    variables = _examples()[name]["variables"]
    app, wheelhouse, lock = _score_world(tmp_path)
    install_lock(lock, wheelhouse, app / Path(variables[LIB]).parts[0])
    result = run_score(
        app, python37, _request(app), {**variables, "AZUREML_ENTRY_SCRIPT": "score.py"}
    )
    assert result.exit_code == 0, [*result.log, result.stderr]
    assert json.loads(result.answer or "null")["table"] == "1 2\n3 4"


@pytest.fixture(scope="module")
def stand_in(python37: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bare image stand-in: a venv of the real 3.7 with its own pip (offline, ensurepip);
    `run` installs the requirements into a scratch copy of it."""
    venv = tmp_path_factory.mktemp("image") / "env"
    subprocess.run([python37, "-m", "venv", str(venv)], check=True, timeout=300)
    return str(venv / "bin" / "python")


@pytest.mark.py37
@pytest.mark.parametrize("name", ["deploy_requirements.py", "deployment-requirements.yml"])
def test_requirements_install_from_the_index(name: str, tmp_path: Path, stand_in: str) -> None:
    """The example's requirements file, a lock, pip-installed from a running index."""
    variables = _examples()[name]["variables"]
    app, wheelhouse, lock = _score_world(tmp_path)
    # the test's lock (of the stand-in wheels) where the example's lock is
    write_requirements(app / variables[REQ], lock)
    env = {k: v for k, v in variables.items() if not k.startswith("PIP_")}
    with run_mirror(ServeConfig(root=wheelhouse)) as url:
        result = run_score(app, stand_in, _request(app), env, index_url=f"{url}/simple")
    assert result.exit_code == 0, [*result.log, result.stderr]
    assert json.loads(result.answer or "null")["rows"] == "2"

"""The target's interpreter: found by version, refused when it is another Python, and a
bare target's stand-in (nothing but the interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wheelhouse.cli import main
from wheelhouse.errors import UsageError
from wheelhouse.interpreters import find_python, interpreter_version
from wheelhouse.model.profile import bare_profile

pytestmark = pytest.mark.py37
SCORE = (
    "def init():\n    pass\ndef run(raw):\n    import sys\n    return list(sys.version_info[:2])\n"
)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "score.py").write_text(SCORE)
    (folder / "sample-request.json").write_text("{}")
    return folder


def test_a_version_finds_its_interpreter(python37: str) -> None:
    assert interpreter_version(find_python("3.7")).startswith("3.7.")
    exact = interpreter_version(python37)
    assert interpreter_version(find_python(exact)) == exact
    with pytest.raises(UsageError, match=r"no Python 3\.7\.99 found"):
        find_python("3.7.99")


def test_image_env_of_a_bare_target(
    tmp_path: Path, python37: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bare"
    assert main(["image-env", str(out), "--python-version", "3.7", "--python", "3.7"]) == 0
    assert "built with 0 packages" in capsys.readouterr().err
    done = subprocess.run(
        [str(out / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "(3, 7)"


def test_image_env_with_packages_needs_a_wheelhouse(
    tmp_path: Path, python37: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["image-env", str(tmp_path / "e"), "--python", python37]) == 2
    assert "give --wheelhouse DIR" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_run_refuses_another_python(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(app), "--python", sys.executable]) == 2
    err = capsys.readouterr().err
    assert f"is Python {sys.version_info[0]}.{sys.version_info[1]}" in err
    assert "runs Python 3.7" in err and "Traceback" not in err


def test_run_refuses_another_python_than_the_profile(
    app: Path, tmp_path: Path, python37: str, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "py38.json"
    profile.write_text(bare_profile("3.8.10", "manylinux2014_x86_64").to_json())
    assert main(["run", str(app), "--python", python37, "--image", str(profile)]) == 2
    assert "runs Python 3.8" in capsys.readouterr().err


def test_run_without_python_takes_the_targets_and_says_so(
    app: Path, python37: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(app), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == [3, 7]
    assert "warning: no --python: starting the score with" in out.err
    assert "without the image's packages" in out.err


def test_run_warns_about_a_lib_folder_of_another_python(
    app: Path, python37: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (app / "myenv" / "lib" / "python3.8" / "site-packages").mkdir(parents=True)
    lib = "AZUREML_EXTRA_PYTHON_LIB_PATH=myenv/lib/python3.8/site-packages"
    assert main(["run", str(app), "--python", "3.7", "--env", lib]) == 0
    assert "is for Python 3.8, but the interpreter is Python 3.7" in capsys.readouterr().err


@pytest.mark.parametrize("args", [[], ["--data", "{}"]])
def test_run_of_a_missing_folder_says_so(
    tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "nodir"), *args]) == 2
    err = capsys.readouterr().err
    assert f"the score folder {tmp_path / 'nodir'} does not exist" in err
    assert "sample request" not in err and "warning" not in err


def test_quiet_image_env_and_run(
    app: Path, tmp_path: Path, python37: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["image-env", str(tmp_path / "bare"), "--python-version", "3.7", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    python = str(tmp_path / "bare" / "bin" / "python")
    assert main(["run", str(app), "--python", python, "--json", "-q"]) == 0
    out = capsys.readouterr()
    assert (json.loads(out.out), out.err) == ([3, 7], "")

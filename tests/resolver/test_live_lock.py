"""Live: lock a real set for the default profile against pip's configured index and prove
with the real Python 3.7 that it installs with hashes required and imports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wheelhouse.cli import main
from wheelhouse.model.lockfiles import load_lock

pytestmark = pytest.mark.live


@pytest.fixture
def real_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test uses the machine's own pip configuration, as a user's lock would."""
    monkeypatch.delenv("PIP_CONFIG_FILE", raising=False)
    monkeypatch.delenv("NETRC", raising=False)


def test_default_profile_lock_installs_and_imports_on_37(
    tmp_path: Path, python37: str, real_pip_config: None
) -> None:
    out = tmp_path / "requirements.lock"
    assert main(["lock", "-o", str(out), "scikit-learn", "pandas", "lightgbm", "attrs"]) == 0
    lock = load_lock(out)
    to_install = {p.name: p.version for p in lock.to_install()}
    provided = {p.name: p.version for p in lock.image_provided()}
    assert "lightgbm" in to_install
    assert "importlib-metadata" in to_install  # attrs needs it on Python 3.7 only
    assert provided["numpy"].startswith("1.21.") and "numpy" not in to_install
    assert provided["scikit-learn"] == "0.24.1" and "pandas" in provided

    venv = tmp_path / "venv"
    subprocess.run([python37, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    # the image's own packages (the stand-in for the image), then the lock with hashes
    subprocess.run(
        [
            *pip,
            "install",
            "--no-deps",
            "--only-binary=:all:",
            *(f"{n}=={v}" for n, v in provided.items()),
        ],
        check=True,
    )
    subprocess.run([*pip, "install", "--no-deps", "--require-hashes", "-r", str(out)], check=True)
    code = (
        "import lightgbm, sklearn, pandas, numpy, attr, importlib_metadata; "
        "print(numpy.__version__, sklearn.__version__, lightgbm.__version__)"
    )
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == [provided["numpy"], "0.24.1"]


def test_impossible_request_is_actionable(
    tmp_path: Path, real_pip_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "requirements.lock"
    assert main(["lock", "-o", str(out), "click==8.1.3"]) == 3
    err = capsys.readouterr().err
    assert "azureml-inference-server-http 0.6.1 (image) requires click<8" in err
    assert "you asked click==8.1.3" in err

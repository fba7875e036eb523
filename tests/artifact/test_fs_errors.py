"""Filesystem errors say which of the user's paths failed and what to do; never the name of
a staging folder or temporary file, never a traceback. A real error is provoked with a file
size limit (ulimit -f) in a child process running the command as users do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import lock_of, write_pylock
from tests.wheelfactory import make_wheel
from wheelhouse.cli import main

LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
from wheelhouse.cli import main
sys.exit(main(sys.argv[1:]))
"""


def limited(*argv: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", LIMITED, *argv], capture_output=True, text=True, env=env
    )


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, Path]:
    """A wheelhouse with a wheel holding a 100 KB file, and its lock."""
    blob = os.urandom(100_000)
    wheel = make_wheel(tmp_path / "wh" / "files", "big", "1.0", files={"big/blob.bin": blob})
    return tmp_path / "wh", write_pylock(tmp_path / "pylock.toml", lock_of([wheel]))


def test_install_names_the_target_not_the_staging_folder(
    big: tuple[Path, Path], tmp_path: Path
) -> None:
    wh, lock = big
    target = tmp_path / "myenv"
    done = limited("install", str(lock), "--wheelhouse", str(wh), "--target", str(target))
    assert done.returncode == 6, done.stderr
    assert (
        "big 1.0: cannot install: File too large: lib/python3.7/site-packages/big/blob.bin"
        in done.stderr
    )
    assert "(ulimit -f)" in done.stderr
    assert "staging" not in done.stderr and "Traceback" not in done.stderr
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pylock.toml", "wh"]  # no staging left


def test_pack_names_the_archive_not_its_temporary(big: tuple[Path, Path], tmp_path: Path) -> None:
    wh, lock = big
    target = tmp_path / "myenv"
    assert main(["install", str(lock), "--wheelhouse", str(wh), "--target", str(target), "-q"]) == 0
    out = tmp_path / "myenv.tar.gz"
    done = limited("pack", str(target), "-o", str(out))
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: File too large: {out} (")
    assert ".part" not in done.stderr and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_install_where_a_file_is_in_the_way(
    big: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wh, lock = big
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "myenv"
    assert main(["install", str(lock), "--wheelhouse", str(wh), "--target", str(target)]) == 6
    err = capsys.readouterr().err
    assert f"cannot install into {target}" in err and str(tmp_path / "afile") in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["pack", "{tmp}/nonexistent", "-o", "{tmp}/x.tar.gz"], "nonexistent does not exist"),
        (["pack", "{tmp}/afile", "-o", "{tmp}/x.tar.gz"], "afile is not a folder"),
        (
            ["verify", "{tmp}/nonexistent", "--lock", "{tmp}/pylock.toml"],
            "nonexistent does not exist",
        ),
    ],
)
def test_missing_inputs_are_named(
    big: tuple[Path, Path],
    tmp_path: Path,
    argv: list[str],
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "afile").write_text("")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "manifest" not in err

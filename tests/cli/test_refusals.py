"""Bad input refused where it enters: exit code 2 and one line naming the value, never a
traceback and never a later, misleading error."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheelhouse.cli import main
from wheelhouse.errors import UsageError


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["serve", "--wheelhouse", ".", "--port", "99999"], "--port: 99999 is not a port"),
        (["serve", "--wheelhouse", ".", "--port", "0"], "--port: 0 is not a port"),
        (["serve", "--wheelhouse", ".", "--port", "http"], "--port: 'http' is not a port"),
        (["serve", "--wheelhouse", ".", "--workers", "0"], "--workers: 0: give 1 to 256"),
        (["install", "l", "--wheelhouse", "w", "--target", "t", "--jobs", "-2"], "--jobs: -2"),
        (["install", "l", "--wheelhouse", "w", "--target", "t", "--jobs", "0"], "--jobs: 0"),
        (["sync", "l", "--wheelhouse", "w", "--jobs", "0"], "--jobs: 0: give 1 to 256"),
        (["sync", "l", "--wheelhouse", "w", "--jobs", "99999999999"], "give 1 to 256"),
        (
            ["sync", "l", "--wheelhouse", "w", "--timeout", "nan"],
            "--timeout: give a positive number of seconds, not 'nan'",
        ),
        (
            ["sync", "l", "--wheelhouse", "w", "--timeout", "1e400"],
            "--timeout: give a positive number of seconds, not '1e400'",
        ),
        (["snapshot", "--python", "/bin/false"], "does not run as a Python interpreter"),
        (
            ["sync", "l", "--wheelhouse", "w", "--timeout", "-1"],
            "--timeout: give a positive number of seconds, not '-1'",
        ),
        (["lock", "six", "--platform", "manylinux2014_x86_46"], "unknown architecture 'x86_46'"),
        (["lock", "six", "--platform", "ubuntu"], "'ubuntu': not a platform tag"),
        (["lock", "six", "--platform", "manylinux1_aarch64"], "unknown architecture 'aarch64'"),
        (["lock", "six", "--python-version", "2.7"], "Python 2.7 is not a target"),
        (["snapshot", "--platform", "musllinux_1_2_x86_46"], "unknown architecture"),
        (["lock", "six", "-i", "notaurl"], "--index-url 'notaurl' is neither a URL"),
        (["lock", "six", "-i", "ftp://host/simple"], "ftp:// is not supported"),
        (["lock", "six", "-i", "http://[::1"], "--index-url is not a URL"),
        (["lock", "six", "-i", "https:///simple"], "has no host name"),
        (["lock", "six", "--find-links", "/no/such/folder"], "--find-links '/no/such/folder'"),
        (["sync", "l", "--wheelhouse", "w", "--extra-index-url", "x"], "--extra-index-url 'x'"),
        (["run", ".", "--index-url", "nowhere"], "--index-url 'nowhere'"),
        (["lock", "six", "-P", "six @ https://x/y.whl"], "give NAME or NAME<specifier>"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["lock", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_refused_with_one_line(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a if a != "l" else str(tmp_path / "missing.lock") for a in argv]
    assert says in refused(
        [*argv, "-o", str(tmp_path / "x.lock")] if argv[0] == "lock" else argv, capsys
    )


def test_platform_that_fits_the_grammar_is_taken(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    for tag in ("manylinux_2_28_aarch64", "musllinux_1_2_x86_64", "macosx_11_0_arm64", "win_amd64"):
        assert main(["snapshot", "--platform", tag, "-o", str(out)]) == 0


def test_index_url_from_pip_configuration_is_checked_and_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "notaurl")
    err = refused(["lock", "six", "-o", str(tmp_path / "x.lock")], capsys)
    assert "index-url ($PIP_INDEX_URL) 'notaurl'" in err


def test_a_local_folder_is_a_valid_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "simple").mkdir()
    out = str(tmp_path / "x.lock")
    code = main(
        ["lock", "six", "-i", str(tmp_path / "simple"), "-o", out, "--python-version", "3.7"]
    )
    assert code == 3  # accepted as a source; six is simply not on it
    assert "six" in capsys.readouterr().err


@pytest.mark.parametrize("typo", ["az:/wheels", "az:wheels", "az:/wheels/team", "AZ://wheels"])
@pytest.mark.parametrize("command", ["sync", "prune"])
def test_a_mistyped_az_url_is_refused_not_made_a_folder(
    typo: str,
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\n')
    keep = ["--keep"] if command == "prune" else []
    assert main([command, *keep, str(lock), "--wheelhouse", typo]) == 2
    err = capsys.readouterr().err
    assert "az://CONTAINER/PREFIX" in err and typo in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pylock.toml"]


def test_a_mistyped_az_url_is_refused_by_the_library_too(tmp_path: Path) -> None:
    from wheelhouse.mirror.prune import prune
    from wheelhouse.store.location import open_wheelhouse

    with pytest.raises(UsageError, match="not an az:// URL"):
        open_wheelhouse("az:/wheels")
    with pytest.raises(UsageError, match="not an az:// URL"):
        prune("az:wheels", [])

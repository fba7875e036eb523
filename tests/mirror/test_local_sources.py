"""Offline sources end to end: a file:// index and a find-links folder through
lock -> sync -> install, as users run the commands, with the same hash checks as HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.cli import main

TARGET = ["--python-version", "3.7"]


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    make_wheel(folder, "alpha", "1.0", ["beta>=1.0"])
    make_wheel(folder, "beta", "1.0")
    make_wheel(folder, "beta", "0.9")
    return folder


@pytest.fixture
def file_index(tmp_path: Path, wheels: Path) -> str:
    index = SimpleIndex(root=tmp_path / "mirror")
    index.add_all(sorted(wheels.iterdir()))
    return index.write().as_uri()


def installed(target: Path) -> list[str]:
    site = target / "lib" / "python3.7" / "site-packages"
    return sorted(p.name for p in site.glob("*.dist-info"))


def lock_sync_install(tmp_path: Path, sources: list[str], lock_name: str) -> list[str]:
    lock = tmp_path / "requirements.lock"
    assert main(["lock", "alpha", "-o", str(lock), *TARGET, *sources]) == 0
    chosen = lock if lock_name == "requirements.lock" else tmp_path / "pylock.toml"
    sync_sources: list[str] = []  # a pylock.toml names its files' URLs
    if chosen == lock:  # alone, its pins are found by hash on the sources
        (tmp_path / "pylock.toml").unlink()
        sync_sources = sources
    assert main(["sync", str(chosen), "--wheelhouse", str(tmp_path / "wh"), *sync_sources]) == 0
    target = tmp_path / "myenv"
    assert (
        main(
            ["install", str(chosen), "--wheelhouse", str(tmp_path / "wh"), "--target", str(target)]
        )
        == 0
    )
    return installed(target)


@pytest.mark.parametrize("lock_name", ["pylock.toml", "requirements.lock"])
def test_file_index_lock_sync_install(tmp_path: Path, file_index: str, lock_name: str) -> None:
    got = lock_sync_install(tmp_path, ["-i", file_index], lock_name)
    assert got == ["alpha-1.0.dist-info", "beta-1.0.dist-info"]
    origins = (tmp_path / "wh" / "wheelhouse.json").read_text()
    assert f"{file_index[: -len('/simple')]}/files/alpha-1.0-py3-none-any.whl" in origins


@pytest.mark.parametrize("lock_name", ["pylock.toml", "requirements.lock"])
def test_find_links_folder_lock_sync_install(tmp_path: Path, wheels: Path, lock_name: str) -> None:
    got = lock_sync_install(tmp_path, ["-f", str(wheels)], lock_name)
    assert got == ["alpha-1.0.dist-info", "beta-1.0.dist-info"]
    assert sorted(p.name for p in (tmp_path / "wh" / "files").glob("*.whl")) == [
        "alpha-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-any.whl",
    ]


def test_a_changed_local_file_is_refused_and_not_kept(
    tmp_path: Path, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements.lock"
    assert main(["lock", "alpha", "-o", str(lock), *TARGET, "-f", str(wheels)]) == 0
    beta = wheels / "beta-1.0-py3-none-any.whl"
    make_wheel(tmp_path / "other", "beta", "1.0", ["alpha"])  # same name, other bytes
    shutil.copyfile(tmp_path / "other" / beta.name, beta)
    capsys.readouterr()
    code = main(["sync", str(tmp_path / "pylock.toml"), "--wheelhouse", str(tmp_path / "wh")])
    err = capsys.readouterr().err
    assert code == 5, err
    assert "beta-1.0-py3-none-any.whl" in err
    assert not (tmp_path / "wh" / "files" / beta.name).exists()
    assert (tmp_path / "wh" / "files" / "alpha-1.0-py3-none-any.whl").is_file()


def test_a_missing_local_file_names_its_url(
    tmp_path: Path, file_index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements.lock"
    assert main(["lock", "alpha", "-o", str(lock), *TARGET, "-i", file_index]) == 0
    (tmp_path / "mirror" / "files" / "alpha-1.0-py3-none-any.whl").unlink()
    capsys.readouterr()
    code = main(["sync", str(tmp_path / "pylock.toml"), "--wheelhouse", str(tmp_path / "wh")])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "alpha-1.0-py3-none-any.whl: no file at file://" in err
    assert "Traceback" not in err


def test_a_hash_only_lock_not_in_the_folder_is_an_integrity_error(
    tmp_path: Path, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements.lock"
    assert main(["lock", "alpha", "-o", str(lock), *TARGET, "-f", str(wheels)]) == 0
    (tmp_path / "pylock.toml").unlink()  # a hash-only lock
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main(["sync", str(lock), "--wheelhouse", str(tmp_path / "wh"), "-f", str(empty)]) == 5
    assert "no file of alpha==1.0 with the locked hashes" in capsys.readouterr().err

"""`wheelhouse audit`: the lock's and the built-in image's packages against a small OSV export
built by the test; offline from a file or from the copy `sync --advisories` keeps."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import config_for, lock_of, write_pylock
from tests.osvfixture import fixture_records, write_export
from tests.wheelfactory import make_wheel
from wheelhouse.cli import main
from wheelhouse.errors import IntegrityError
from wheelhouse.mirror.sync import SyncOptions, sync
from wheelhouse.model.lock import Lock, LockTarget
from wheelhouse.model.profile import load_profile


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    """alpha 1.0 and beta 2.0 locked for the built-in profile (whose image set is known)."""
    wheels = [make_wheel(tmp_path / "w", "alpha", "1.0"), make_wheel(tmp_path / "w", "beta", "2.0")]
    lock = dataclasses.replace(lock_of(wheels), target=LockTarget.from_profile(load_profile(None)))
    return write_pylock(tmp_path / "pylock.toml", lock)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "osv" / "all.zip", fixture_records())


def _audit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["audit", *argv])
    return code, capsys.readouterr().out


def test_names_the_image_and_the_lock_advisories(
    lock_path: Path, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _audit(capsys, str(lock_path), "--advisories", str(export))
    assert code == 1
    assert "werkzeug 1.0.1 [image]: GHSA-test-werk-0001 (CVE-2099-0001); fixed in 2.2.3" in out
    assert "alpha 1.0 [artifact]: PYSEC-2099-2 (CVE-2099-0002); no fixed version" in out
    assert "PYSEC-2099-3" not in out and "PYSEC-2099-4" not in out  # fixed / past last_affected
    assert "PYSEC-2099-5" not in out and "npm" not in out  # withdrawn / another ecosystem
    assert "advisories: 6 records from" in out and "newest 2024-03-01" in out
    assert "51 packages checked: 2 vulnerable" in out  # 2 locked + 49 of the image


def test_json_and_ignores_with_reasons(
    lock_path: Path, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _audit(
        capsys,
        str(lock_path),
        "--advisories",
        str(export),
        "--json",
        "--ignore",
        "CVE-2099-0001=the image's werkzeug serves no untrusted input",
        "--ignore",
        "PYSEC-2099-2=alpha's vulnerable code path is not imported",
    )
    assert code == 0
    doc: dict[str, Any] = json.loads(out)
    assert doc["ok"] is True
    found = {f["advisory"]: f for f in doc["findings"]}
    assert found["GHSA-test-werk-0001"]["owner"] == "image"
    assert found["GHSA-test-werk-0001"]["ignored"].startswith("the image's werkzeug")
    assert found["PYSEC-2099-2"]["aliases"] == ["CVE-2099-0002"]
    assert doc["advisories"]["records"] == 6 and doc["advisories"]["age_days"] >= 0


def test_ignore_needs_a_reason(lock_path: Path, export: Path) -> None:
    argv = ["audit", str(lock_path), "--advisories", str(export), "--ignore", "PYSEC-2099-2"]
    assert main(argv) == 2


def test_nothing_found_exits_0(
    tmp_path: Path, lock_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = write_export(tmp_path / "clean.zip", fixture_records()[2:])
    code, out = _audit(capsys, str(lock_path), "--advisories", str(clean))
    assert code == 0 and "no known vulnerability" in out


def test_sync_keeps_the_export_and_audit_runs_from_the_wheelhouse(
    tmp_path: Path, lock_path: Path, export: Path, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = serve(export.parent)
    wh = tmp_path / "wh"
    empty = write_pylock(tmp_path / "pylock.empty.toml", _empty(lock_path))
    argv = ["sync", str(empty), "--wheelhouse", str(wh), "--advisories", f"{url}/all.zip"]
    assert main(argv) == 0
    assert (wh / "advisories" / "osv-pypi.zip").read_bytes() == export.read_bytes()
    code, out = _audit(capsys, str(lock_path), "--wheelhouse", str(wh))
    assert code == 1 and "GHSA-test-werk-0001" in out
    assert f"from {url}/all.zip (kept in {wh})" in out and "fetched 20" in out
    # the next sync asks whether it changed; unchanged, it is not downloaded again
    report = sync(
        [empty], wh, config=config_for(url), options=SyncOptions(advisories=f"{url}/all.zip")
    )
    assert report.advisories is not None and not report.advisories.changed
    assert "If-None-Match" in state.requests[-1][2]


def test_a_broken_export_never_replaces_a_good_one(
    tmp_path: Path, lock_path: Path, export: Path, serve: Any
) -> None:
    url, _ = serve(export.parent)
    wh = tmp_path / "wh"
    empty = write_pylock(tmp_path / "pylock.empty.toml", _empty(lock_path))
    sync([empty], wh, config=config_for(url), options=SyncOptions(advisories=str(export)))
    (export.parent / "broken.zip").write_bytes(b"<html>a login page</html>")
    with pytest.raises(IntegrityError, match="not an OSV export"):
        sync(
            [empty], wh, config=config_for(url), options=SyncOptions(advisories=f"{url}/broken.zip")
        )
    assert (wh / "advisories" / "osv-pypi.zip").read_bytes() == export.read_bytes()
    assert sorted(p.name for p in (wh / "advisories").iterdir()) == ["osv-pypi.zip", "source.json"]


def test_audit_without_kept_advisories_says_what_to_do(lock_path: Path, tmp_path: Path) -> None:
    assert main(["audit", str(lock_path), "--wheelhouse", str(tmp_path)]) == 2


def _empty(lock_path: Path) -> Lock:
    from wheelhouse.model.lockfiles import load_lock

    return dataclasses.replace(load_lock(lock_path), pins=())

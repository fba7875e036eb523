"""The everyday lock workflow through the CLI: keep pins, move one, upgrade all, check in CI.

A real local index that gains releases between the steps, as an index does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.cli import main
from wheelhouse.model.lockfiles import load_lock


class Upstream:
    """An index served over HTTP that can publish new releases."""

    def __init__(self, index: SimpleIndex, dists: Path, url: str, state: Any) -> None:
        self.index, self.dists, self.url, self.state = index, dists, url, state

    def publish(self, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
        self.index.add(make_wheel(self.dists, name, version, list(requires)))
        self.index.write()


@pytest.fixture
def upstream(index: SimpleIndex, tmp_path: Path, serve: Any) -> Upstream:
    up = Upstream(index, tmp_path / "dists", "", None)
    up.publish("one", "1.0")
    up.publish("two", "1.0")
    up.publish("three", "1.0", ("two>=1.0",))
    up.publish("four", "1.0")
    url, state = serve(index.root)
    up.url, up.state = f"{url}/simple", state
    return up


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "requirements.in").write_text("one\nthree\n")
    return tmp_path


def lock(workdir: Path, upstream: Upstream, *args: str) -> int:
    return main(
        [
            "lock",
            "-r",
            str(workdir / "requirements.in"),
            "-o",
            str(workdir / "requirements.lock"),
            "-i",
            upstream.url,
            "--python-version",
            "3.7",
            *args,
        ]
    )


def pins(workdir: Path) -> dict[str, str]:
    return {p.name: p.version for p in load_lock(workdir / "requirements.lock").to_install()}


def newer_releases(upstream: Upstream) -> None:
    upstream.publish("one", "2.0")
    upstream.publish("two", "2.0")
    upstream.publish("three", "2.0", ("two>=2.0",))
    upstream.publish("four", "2.0")


def files_state(workdir: Path) -> list[tuple[bytes, int]]:
    paths = (workdir / "requirements.lock", workdir / "pylock.toml")
    return [(p.read_bytes(), p.stat().st_mtime_ns) for p in paths]


def test_new_releases_do_not_move_a_lock_whose_inputs_did_not_change(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    asked = len(upstream.state.requests)
    assert lock(workdir, upstream) == 0
    assert "up to date (inputs unchanged)" in capsys.readouterr().err
    assert len(upstream.state.requests) == asked
    assert pins(workdir) == {"one": "1.0", "two": "1.0", "three": "1.0"}


def test_changed_inputs_keep_the_existing_pins(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    (workdir / "requirements.in").write_text("one\nthree\nfour\n")
    assert lock(workdir, upstream, "--no-cache") == 0
    # the new requirement takes the newest; what was locked stays where it was
    assert pins(workdir) == {"one": "1.0", "two": "1.0", "three": "1.0", "four": "2.0"}
    assert "+ four 2.0" in capsys.readouterr().err


def test_upgrade_package_moves_that_pin_only(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    capsys.readouterr()
    # the cached index pages are still fresh: an upgrade asks the index anyway
    assert lock(workdir, upstream, "-P", "one") == 0
    assert pins(workdir) == {"one": "2.0", "two": "1.0", "three": "1.0"}
    assert "~ one 1.0 -> 2.0" in capsys.readouterr().err


def test_upgrade_package_moves_what_it_needs_and_no_more(workdir: Path, upstream: Upstream) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    assert lock(workdir, upstream, "--upgrade-package", "three") == 0
    # three 2.0 needs two>=2.0: two moves with it, one stays
    assert pins(workdir) == {"one": "1.0", "two": "2.0", "three": "2.0"}


def test_upgrade_package_with_a_specifier_and_repeated(workdir: Path, upstream: Upstream) -> None:
    newer_releases(upstream)
    assert lock(workdir, upstream, "-U") == 0
    assert pins(workdir) == {"one": "2.0", "two": "2.0", "three": "2.0"}
    assert lock(workdir, upstream, "-P", "one==1.0", "-P", "three<2") == 0
    assert pins(workdir) == {"one": "1.0", "two": "2.0", "three": "1.0"}


def test_upgrade_package_not_in_the_lock_warns(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    assert lock(workdir, upstream, "-P", "nothere") == 0
    assert "--upgrade-package nothere: not in the lock" in capsys.readouterr().err


def test_upgrade_package_refuses_what_is_not_a_name(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream, "-P", "one @ https://x/y.whl") == 2
    assert "--upgrade-package 'one @ https://x/y.whl'" in capsys.readouterr().err
    assert not (workdir / "requirements.lock").exists()


def test_upgrade_takes_the_newest_of_everything(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    assert lock(workdir, upstream, "--upgrade") == 0
    assert pins(workdir) == {"one": "2.0", "two": "2.0", "three": "2.0"}
    before = files_state(workdir)
    assert lock(workdir, upstream, "--upgrade") == 0
    assert "up to date (no pin would move)" in capsys.readouterr().err
    assert files_state(workdir) == before  # nothing rewritten


def test_check_passes_on_a_fresh_lock_without_asking_the_index(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    before, asked = files_state(workdir), len(upstream.state.requests)
    capsys.readouterr()
    assert lock(workdir, upstream, "--check") == 0
    assert "requirements.lock: up to date" in capsys.readouterr().err
    assert len(upstream.state.requests) == asked
    assert files_state(workdir) == before


def test_check_fails_on_a_stale_lock_and_writes_nothing(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    (workdir / "requirements.in").write_text("one\nthree\nfour\n")
    before = files_state(workdir)
    capsys.readouterr()
    assert lock(workdir, upstream, "--check") == 1
    err = capsys.readouterr().err
    assert "requirements.lock would change" in err
    assert "+ four 1.0" in err
    assert "input: requirements changed: +four" in err
    assert files_state(workdir) == before


def test_check_fails_when_only_the_inputs_changed(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    (workdir / "requirements.in").write_text("one\nthree\ntwo\n")  # two: already pinned
    assert lock(workdir, upstream, "--check", "-q") == 1
    err = capsys.readouterr().err
    assert "input: requirements changed: +two" in err
    assert "+ two" not in err


def test_check_without_a_lock_fails(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream, "--check") == 1
    assert "is not up to date: no lock at" in capsys.readouterr().err
    assert not (workdir / "requirements.lock").exists()
    assert upstream.state.requests == []


def test_check_with_upgrade_lists_what_is_newer(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    before = files_state(workdir)
    capsys.readouterr()
    assert lock(workdir, upstream, "--check", "--upgrade", "--json") == 1
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["changed"] is True and outcome["check"] is True
    moved = {c["name"]: (c["old"], c["new"]) for c in outcome["diff"]["pins"]}
    assert moved == {"one": ("1.0", "2.0"), "two": ("1.0", "2.0"), "three": ("1.0", "2.0")}
    assert files_state(workdir) == before


def test_image_packages_refuses_the_workflow_flags(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "--image-packages", "--check", "-o", str(workdir / "i.lock")]) == 2
    assert "--check do not apply" in capsys.readouterr().err


def test_check_without_the_pylock_says_so_and_keeps_the_pins(
    workdir: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(workdir, upstream) == 0
    newer_releases(upstream)
    (workdir / "pylock.toml").unlink()
    capsys.readouterr()
    assert lock(workdir, upstream, "--check", "--no-cache") == 1
    err = capsys.readouterr().err
    assert "inputs are unknown: its pylock.toml is missing" in err
    assert "->" not in err and "target changed" not in err  # the pins would stay
    assert lock(workdir, upstream, "--no-cache") == 0
    assert pins(workdir) == {"one": "1.0", "two": "1.0", "three": "1.0"}

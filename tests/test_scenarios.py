"""The scenario suite: realistic requirement sets locked against the built-in profile,
synced, installed, verified with the image's stand-in and smoke-tested under Python 3.7.

Live (the configured index) and py37 (the real interpreter); one wheelhouse and one stand-in
for the whole run. The table is printed and kept in .scenarios/results.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios import Outcome, Stage, prepare, render_table, run_scenario, scenario_names

pytestmark = [pytest.mark.live, pytest.mark.py37]
RESULTS: list[Outcome] = []


@pytest.fixture(scope="module")
def stage(python37: str, tmp_path_factory: pytest.TempPathFactory) -> Stage:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PIP_CONFIG_FILE", raising=False)  # the machine's own pip configuration
        mp.delenv("NETRC", raising=False)
        return prepare(python37)


@pytest.fixture
def real_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIP_CONFIG_FILE", raising=False)
    monkeypatch.delenv("NETRC", raising=False)


@pytest.mark.parametrize("name", scenario_names())
def test_scenario(name: str, stage: Stage, real_pip_config: None) -> None:
    outcome = run_scenario(name, stage)
    RESULTS.append(outcome)
    (stage.work / "results.md").write_text(render_table(RESULTS))
    # verify passes exactly when the set works on the image; a failure names what broke
    assert outcome.passed, render_table([outcome])
    assert outcome.to_install > 0


def test_at_least_ten_sets() -> None:
    assert len(scenario_names()) >= 10
    assert all(
        (Path(__file__).parent / "scenarios" / n / "smoke.py").is_file() for n in scenario_names()
    )


def pytest_terminal_summary() -> None:  # pragma: no cover - printed by the conftest hook
    pass

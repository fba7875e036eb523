"""The command line as a whole: every command answers --help; -v/-q go on either side."""

from __future__ import annotations

import pytest

from wheelhouse.cli import COMMAND_MODULES, build_parser, main


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert f"usage: wheelhouse {command}" in capsys.readouterr().out


def test_quiet_and_verbose_on_either_side_of_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["-q", "lock", "six"]).quiet is True
    assert parser.parse_args(["lock", "six", "-q"]).quiet is True
    assert parser.parse_args(["lock", "six"]).quiet is False
    assert parser.parse_args(["lock", "six", "-vv"]).verbose == 2


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out

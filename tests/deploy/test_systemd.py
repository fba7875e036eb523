"""deploy/systemd/: the units pass `systemd-analyze verify` (no warning either), their
hardening scores as systemd's own `security` check rates it, and their commands are real."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.tools import DEPLOY, need, parse_cli

UNITS = DEPLOY / "systemd"
INSTALLED = "/opt/wheelhouse/bin/wheelhouse"  # where the units expect the venv's script
HARDENING = {
    "DynamicUser": "yes",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "StateDirectory": "wheelhouse",
}
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 (locked down) to 10 (UNSAFE)


def _here(tmp_path: Path) -> list[Path]:
    """Copies of the units whose ExecStart names this checkout's `wheelhouse` (verify
    checks that the program exists)."""
    script = Path(sys.executable).parent / "wheelhouse"
    copies = []
    for unit in sorted(UNITS.iterdir()):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(INSTALLED, str(script)))
        copies.append(copy)
    return copies


def _unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_verify(tmp_path: Path) -> None:
    analyze = need("systemd-analyze", "verifies the units (Debian package systemd)")
    copies = _here(tmp_path)
    assert {p.suffix for p in copies} == {".service", ".timer"}
    out = subprocess.run([analyze, "verify", *map(str, copies)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_verify_catches_a_mistake(tmp_path: Path) -> None:
    analyze = need("systemd-analyze", "verifies the units (Debian package systemd)")
    copy = _here(tmp_path)[0]
    copy.write_text(copy.read_text().replace("ProtectHome=", "ProtectHom="))
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    assert "Unknown key" in out.stderr


@pytest.mark.parametrize("name", ["wheelhouse-serve.service", "wheelhouse-sync.service"])
def test_hardened(name: str, tmp_path: Path) -> None:
    service = dict(_unit(UNITS / name)["Service"])
    for key, value in HARDENING.items():
        assert service.get(key) == value, (name, key)
    families = set(service["RestrictAddressFamilies"].split())
    assert families <= {"AF_INET", "AF_INET6", "AF_UNIX"}
    analyze = need("systemd-analyze", "rates the units' exposure")
    copy = next(p for p in _here(tmp_path) if p.name == name)
    out = subprocess.run(
        [analyze, "security", "--offline=yes", str(copy)], capture_output=True, text=True
    )
    score = float(out.stdout.split("Overall exposure level for", 1)[1].split(":")[1].split()[0])
    assert score <= MAX_EXPOSURE, out.stdout


def _argv(unit: Path) -> list[str]:
    line = _unit(unit)["Service"]["ExecStart"]
    argv = shlex.split(line)
    if argv[0] == "/bin/sh":
        argv = shlex.split(argv[2].removeprefix("exec "))
    assert argv[0] == INSTALLED
    return [a.replace("*.lock", "x.lock") for a in argv[1:]]


def test_commands_parse() -> None:
    serve = parse_cli(_argv(UNITS / "wheelhouse-serve.service"))
    sync = parse_cli(_argv(UNITS / "wheelhouse-sync.service"))
    assert (serve.command, sync.command) == ("serve", "sync")
    assert str(serve.wheelhouse) == str(sync.wheelhouse)  # the job writes what the service reads
    assert sync.json
    state = Path("/var/lib") / _unit(UNITS / "wheelhouse-sync.service")["Service"]["StateDirectory"]
    assert sync.wheelhouse == state
    timer = _unit(UNITS / "wheelhouse-sync.timer")
    assert timer["Timer"]["Unit"] == "wheelhouse-sync.service"
    assert timer["Timer"]["OnCalendar"]

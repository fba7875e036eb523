"""The configuration at the command line: flags > WHEELHOUSE_* variables > wheelhouse.toml
> defaults, the keys' options, the README's table, and a file driving lock and sync."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import build_wheels, make_lock, upstream, write_pylock
from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.cli import build_parser, main, parse_arguments
from wheelhouse.cli._config import _action, _subparsers
from wheelhouse.model.config import KEYS

README = Path(__file__).parents[2] / "README.md"


def parse(argv: list[str]) -> Any:
    return parse_arguments(build_parser(), argv)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder as the current one."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_flag_over_environment_over_file_over_default(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "wheelhouse.toml").write_text(
        '[serve]\nport = 9001\nhost = "0.0.0.0"\nworkers = 3\n[sync]\njobs = 2\n'
    )
    monkeypatch.setenv("WHEELHOUSE_SERVE_PORT", "9002")
    monkeypatch.setenv("WHEELHOUSE_SERVE_HOST", "10.0.0.1")
    args = parse(["serve", "--wheelhouse", "wh", "--port", "9003"])
    assert args.port == 9003  # flag
    assert args.host == "10.0.0.1"  # variable over file
    assert args.workers == 3  # file over default
    assert parse(["sync", "x.lock", "--wheelhouse", "wh"]).jobs == 2
    monkeypatch.delenv("WHEELHOUSE_SERVE_PORT")
    assert parse(["serve", "--wheelhouse", "wh"]).port == 9001
    assert parse(["--no-config", "serve", "--wheelhouse", "wh"]).port == 8080  # default


def test_config_satisfies_required_options_and_positionals(project: Path) -> None:
    with pytest.raises(Exception, match="required"):
        parse(["sync"])
    (project / "wheelhouse.toml").write_text(
        'wheelhouse = "wh"\n[sync]\nlocks = ["a.lock", "b.lock"]\n[install]\ntarget = "t"\n'
    )
    args = parse(["sync"])
    assert args.locks == [project / "a.lock", project / "b.lock"]
    assert args.wheelhouse == project / "wh"
    assert parse(["sync", "c.lock"]).locks == [Path("c.lock")]  # given: replaces the list
    install = parse(["install", "x.lock"])
    assert (install.wheelhouse, install.target) == (project / "wh", project / "t")


def test_list_flags_replace_the_configured_list(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "wheelhouse.toml").write_text('find-links = ["one", "https://two.example/"]\n')
    assert parse(["lock", "six"]).find_links == [str(project / "one"), "https://two.example/"]
    assert parse(["lock", "six", "-f", "three", "-f", "four"]).find_links == ["three", "four"]
    monkeypatch.setenv("WHEELHOUSE_FIND_LINKS", "env1 env2")
    assert parse(["lock", "six"]).find_links == ["env1", "env2"]


def test_image_gives_way_to_a_bare_target_on_the_command_line(project: Path) -> None:
    (project / "wheelhouse.toml").write_text('image = "profiles/img.json"\n')
    assert parse(["lock", "six"]).image == str(project / "profiles/img.json")
    args = parse(["lock", "six", "--python-version", "3.8"])
    assert (args.image, args.python_version) == (None, "3.8")


def test_explicit_config_file_and_its_relative_paths(tmp_path: Path, project: Path) -> None:
    conf = tmp_path / "etc" / "wh.toml"
    conf.parent.mkdir()
    conf.write_text('wheelhouse = "../srv/wh"\n[pack]\noutput = "out.tar.gz"\n')
    args = parse(["--config", str(conf), "pack", "folder"])
    assert args.output == conf.parent / "out.tar.gz"
    args = parse([f"--config={conf}", "prune", "--keep", "a.lock"])
    assert args.wheelhouse == conf.parent / "../srv/wh"


def test_pyproject_tool_wheelhouse(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.wheelhouse]\nwheelhouse = "wh"\n'
        "[tool.wheelhouse.sync]\njobs = 5\n"
    )
    args = parse(["sync", "a.lock"])
    assert (args.wheelhouse, args.jobs) == (project / "wh", 5)


@pytest.mark.parametrize(
    ("text", "argv", "message"),
    [
        ("[serve]\nwokers = 2\n", ["profiles"], "wheelhouse.toml: [serve] unknown key 'wokers'"),
        ('wheelhouse = "wh"\n[serve\n', ["profiles"], "wheelhouse.toml: not valid TOML"),
        ("[serve]\nport = 70000\n", ["profiles"], "[serve] port: 70000 is not a port"),
        ("[sync]\njobs = 0\n", ["profiles"], "[sync] jobs: 0: give 1 to 256"),
        ("[sync]\ntimeout = -1\n", ["profiles"], "[sync] timeout: give a positive number"),
        ('[sync]\nmax-file-size = "lots"\n', ["profiles"], "[sync] max-file-size: not a size"),
    ],
)
def test_a_bad_file_is_exit_2_naming_file_and_key(
    project: Path, text: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "wheelhouse.toml").write_text(text)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_toml_names_its_line_through_the_cli(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "wheelhouse.toml").write_text('wheelhouse = "wh"\n\n[serve\nport = 1\n')
    assert main(["profiles"]) == 2
    assert re.search(r"wheelhouse\.toml: not valid TOML: .*line 3", capsys.readouterr().err)


def test_a_bad_variable_is_exit_2_naming_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WHEELHOUSE_SERVE_PORT", "0")
    assert main(["profiles"]) == 2
    assert "$WHEELHOUSE_SERVE_PORT: [serve] port: 0 is not a port" in capsys.readouterr().err


def test_config_option_misuse(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "none.toml"), "profiles"]) == 2
    assert "cannot read configuration file" in capsys.readouterr().err
    (project / "w.toml").write_text("")
    assert main(["profiles", "--config", "w.toml"]) == 2  # a global option: before the command
    assert main(["--config", "w.toml", "--no-config", "profiles"]) == 2
    assert "not both" in capsys.readouterr().err


def test_help_still_works_beside_a_broken_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "wheelhouse.toml").write_text("[serve\n")
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0 and "usage: wheelhouse serve" in capsys.readouterr().out


def test_every_key_stands_in_for_a_real_option() -> None:
    subs = _subparsers(build_parser())
    for spec in KEYS:
        for command in spec.commands:
            assert command in subs, f"{spec.where}: no command {command}"
            action = _action(subs[command], spec.option)
            assert action is not None, f"{spec.where}: {command} has no {spec.option}"
            is_list = spec.kind.is_list
            assert is_list == (action.nargs in ("+", "*") or "Append" in type(action).__name__)
            if spec.kind.value == "boolean":
                assert action.nargs == 0, spec.where


def _readme_rows(heading: str) -> list[list[str]]:
    text = README.read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_every_key_is_documented_in_the_readme_and_nothing_else() -> None:
    rows = {row[0].strip("`"): row for row in _readme_rows("Configuration")}
    assert set(rows) == {k.where for k in KEYS}
    for spec in KEYS:
        row = rows[spec.where]
        assert row[1] == spec.kind.value, spec.where
        assert row[2] == f"`{spec.env}`", spec.where
        assert row[3].startswith(f"`{spec.option}"), spec.where
        assert all(command in row[3] for command in spec.commands), spec.where
        assert row[4] and row[5], spec.where


def test_a_wheelhouse_toml_drives_lock_and_sync(
    project: Path, index: SimpleIndex, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The new user's path with a file: `wheelhouse lock` and `wheelhouse sync`, no flags."""
    dists = project.parent / "dists"
    index.add(make_wheel(dists, "alpha", "1.0", ["beta>=1.0"]))
    index.add(make_wheel(dists, "beta", "1.0"))
    index.write()
    url, _ = serve(index.root)
    (project / "requirements.in").write_text("alpha\n")
    (project / "wheelhouse.toml").write_text(
        f'wheelhouse = "wh"\nindex-url = "{url}/simple"\n'
        '[lock]\nrequirements = ["requirements.in"]\noutput = "locks/requirements.lock"\n'
        '[sync]\nlocks = ["locks/requirements.lock"]\njson = true\n'
    )
    (project / "locks").mkdir()
    sub = project / "sub"  # paths are the file's, wherever the command runs
    sub.mkdir()
    os.chdir(sub)
    assert main(["--config", "../wheelhouse.toml", "lock", "--python-version", "3.7"]) == 0
    assert "alpha==1.0" in (project / "locks" / "requirements.lock").read_text()
    capsys.readouterr()
    assert main(["--config", "../wheelhouse.toml", "sync"]) == 0
    summary = json.loads(capsys.readouterr().out)  # [sync] json = true
    assert summary["ok"] and summary["counts"]["downloaded"] == 2
    assert summary["wheelhouse"] == str(project / "wh")
    assert sorted(p.name for p in (project / "wh" / "files").glob("*.whl")) == [
        "alpha-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-any.whl",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_reads_its_token_from_the_variable_the_file_names(project: Path, serve: Any) -> None:
    wheels = build_wheels(project.parent / "w", 1)
    url, _ = serve(upstream(project.parent, wheels).root)
    lock = write_pylock(project / "pylock.toml", make_lock(wheels, url))
    assert main(["sync", str(lock), "--wheelhouse", str(project / "wh")]) == 0
    port = _free_port()
    (project / "wheelhouse.toml").write_text(
        f'wheelhouse = "wh"\n[serve]\nport = {port}\nworkers = 1\ntoken-env = "SCORER_TOKEN"\n'
    )
    env = {**os.environ, "SCORER_TOKEN": "t0ken-from-env"}
    missing = subprocess.run(
        [sys.executable, "-m", "wheelhouse", "serve"],
        env={k: v for k, v in env.items() if k != "SCORER_TOKEN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "$SCORER_TOKEN is not set" in missing.stderr
    log = open(project / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "wheelhouse", "serve"], env=env, stdout=log, stderr=log
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_health(base, proc)
        assert httpx.get(f"{base}/simple/").status_code == 401
        ok = httpx.get(f"{base}/simple/", headers={"Authorization": "Bearer t0ken-from-env"})
        assert ok.status_code == 200 and "pkg0" in ok.text
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _wait_health(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not become healthy")


def test_the_fast_path_looks_for_the_files_the_model_reads(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wheelhouse.cli._config import CONFIG_FILES, ENV_PREFIX, GlobalFlags, load_settings
    from wheelhouse.model.config import ENV_CONFIG, FILE_NAME, PYPROJECT

    assert CONFIG_FILES == (FILE_NAME, PYPROJECT)
    assert all(k.env.startswith(ENV_PREFIX) for k in KEYS) and ENV_CONFIG.startswith(ENV_PREFIX)
    assert load_settings(GlobalFlags(), env={}) is None  # nothing to read: nothing loaded
    monkeypatch.setenv("WHEELHOUSE_SERVE_PORT", "8123")
    assert parse(["serve", "--wheelhouse", "wh"]).port == 8123  # a variable alone counts


def test_the_readmes_example_is_a_valid_file(tmp_path: Path) -> None:
    from wheelhouse.model.config import parse_config

    section = README.read_text().split("\n## Configuration\n", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse_config(example, tmp_path / "wheelhouse.toml")
    assert config.value("serve.token-env") == "WHEELHOUSE_TOKEN"
    assert config.value("sync.locks") == (
        str(tmp_path / "requirements.lock"),
        str(tmp_path / "image.lock"),
    )

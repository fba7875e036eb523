"""wheelhouse.toml and WHEELHOUSE_* variables: the pure parser of model/config.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheelhouse.errors import UsageError
from wheelhouse.model.config import (
    KEYS,
    SECTIONS,
    Config,
    ConfigError,
    Kind,
    config_from_env,
    find_config,
    key,
    load_config,
    parse_config,
)

HERE = Path("/srv/project/wheelhouse.toml")


def parse(text: str, source: Path = HERE) -> Config:
    return parse_config(text, source)


def test_every_kind_of_value_is_read_with_its_type() -> None:
    config = parse(
        """
        wheelhouse = "az://wheels/prod"
        index-url = "https://index.example/simple"
        find-links = "dists"
        no-index = true
        image = "azureml-minimal-py37"
        [sync]
        locks = ["a.lock", "sub/b.lock"]
        jobs = 4
        timeout = 2.5
        max-file-size = "500M"
        build-with = "docker:img"
        [serve]
        port = 9000
        token-env = "MY_TOKEN"
        log-format = "json"
        ready-max-age = 3600
        [install]
        compile-with = "python3.7"
        """
    )
    assert config.value("wheelhouse") == "az://wheels/prod"
    assert config.value("index-url") == "https://index.example/simple"
    assert config.value("find-links") == ("/srv/project/dists",)
    assert config.value("no-index") is True
    assert config.value("image") == "azureml-minimal-py37"  # a built-in name stays a name
    assert config.value("sync.locks") == ("/srv/project/a.lock", "/srv/project/sub/b.lock")
    assert config.value("sync.jobs") == 4
    assert config.value("sync.timeout") == 2.5
    assert config.value("sync.max-file-size") == "500M"
    assert config.value("sync.build-with") == "docker:img"
    assert config.value("serve.port") == 9000
    assert config.value("serve.token-env") == "MY_TOKEN"
    assert config.value("serve.log-format") == "json"
    assert config.value("serve.ready-max-age") == 3600
    assert config.value("install.compile-with") == "python3.7"  # a program name, not a path
    assert config.get("serve.port").origin == "wheelhouse.toml"  # type: ignore[union-attr]
    assert config.value("serve.host") is None  # not set: the option's default applies


def test_relative_paths_are_taken_from_the_files_folder() -> None:
    config = parse(
        """
        wheelhouse = "../wh"
        index-url = "mirror/simple"
        extra-index-url = ["file:///mnt/x/simple", "local"]
        image = "profiles/image.json"
        [lock]
        output = "locks/requirements.lock"
        build-with = ".venv37/bin/python"
        [sync]
        advisories = "https://osv.example/all.zip"
        [pack]
        output = "/abs/out.tar.gz"
        """,
        Path("/srv/project/conf/wheelhouse.toml"),
    )
    base = "/srv/project/conf"
    assert config.value("wheelhouse") == f"{base}/../wh"
    assert config.value("index-url") == f"{base}/mirror/simple"
    assert config.value("extra-index-url") == ("file:///mnt/x/simple", f"{base}/local")
    assert config.value("image") == f"{base}/profiles/image.json"
    assert config.value("lock.output") == f"{base}/locks/requirements.lock"
    assert config.value("lock.build-with") == f"{base}/.venv37/bin/python"
    assert config.value("sync.advisories") == "https://osv.example/all.zip"
    assert config.value("pack.output") == "/abs/out.tar.gz"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[serve]\nwokers = 3",
            "wheelhouse.toml: [serve] unknown key 'wokers' (did you mean 'workers'?)",
        ),
        ("index_url = 'x'", "wheelhouse.toml: unknown key 'index_url' (did you mean 'index-url'?)"),
        ("[sever]\nport = 1", "wheelhouse.toml: unknown section [sever] (did you mean 'serve'?)"),
        ("serve = 3", "wheelhouse.toml: [serve] must be a table, not an integer (3)"),
        (
            "[serve]\nport = '80'",
            "wheelhouse.toml: [serve] port: expected an integer, not a string ('80')",
        ),
        ("[serve]\nport = true", "[serve] port: expected an integer, not a boolean (True)"),
        ("[sync]\njobs = 1.5", "[sync] jobs: expected an integer, not a number (1.5)"),
        ("[sync]\nlocks = [1, 2]", "[sync] locks: expected a list of strings, not a list"),
        ("[sync]\njson = 'yes'", "[sync] json: expected true or false, not a string ('yes')"),
        (
            "[sync]\ntimeout = nan",
            "[sync] timeout: expected a number of seconds, not a number (nan)",
        ),
        ("[serve]\nhost = 2021-01-01", "[serve] host: expected a string, not a date"),
        (
            "[serve]\nlog-format = 'xml'",
            "[serve] log-format: expected one of text, json, not 'xml'",
        ),
        (
            "[serve]\ntoken-env = 'MY-TOKEN'",
            "[serve] token-env: not the name of an environment variable",
        ),
        ("wheelhouse = ''", "wheelhouse.toml: wheelhouse: empty"),
        ('[lock]\noutput = "a\\u0000b"', "[lock] output: a NUL character is not allowed"),
    ],
)
def test_a_bad_key_or_value_is_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(text)
    assert message in str(exc.value)
    assert exc.value.exit_code == 2


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as exc:
        parse("colour = 1\n[serve]\nport = 'x'\nwokers = 2\n")
    lines = str(exc.value).splitlines()
    assert len(lines) == 3 and all(line.startswith("wheelhouse.toml: ") for line in lines)


def test_bad_toml_names_the_file_and_line() -> None:
    with pytest.raises(ConfigError) as exc:
        parse('wheelhouse = "wh"\n[serve]\nport = \n')
    assert str(exc.value).startswith("wheelhouse.toml: not valid TOML:")
    assert "line 3" in str(exc.value)


def test_pyproject_reads_tool_wheelhouse_only() -> None:
    text = """
    [project]
    name = "scorer"
    [tool.ruff]
    line-length = 100
    [tool.wheelhouse]
    wheelhouse = "wh"
    [tool.wheelhouse.serve]
    port = 8081
    """
    config = parse_config(text, Path("/p/pyproject.toml"), pyproject=True)
    assert config.value("wheelhouse") == "/p/wh"
    assert config.value("serve.port") == 8081
    with pytest.raises(ConfigError) as exc:
        parse_config(text + "wokers = 2\n", Path("/p/pyproject.toml"), pyproject=True)
    assert "pyproject.toml: [tool.wheelhouse.serve] unknown key 'wokers'" in str(exc.value)
    empty = parse_config("[project]\nname = 'x'\n", Path("/p/pyproject.toml"), pyproject=True)
    assert empty.settings == {}


def test_environment_variables_one_per_key() -> None:
    env = {
        "WHEELHOUSE_LOCATION": "az://c/p",
        "WHEELHOUSE_EXTRA_INDEX_URL": " https://a.example/simple  rel/dir ",
        "WHEELHOUSE_SERVE_PORT": "8082",
        "WHEELHOUSE_SERVE_READY_MAX_AGE": "90.5",
        "WHEELHOUSE_SYNC_JSON": "yes",
        "WHEELHOUSE_NO_INDEX": "0",
        "WHEELHOUSE_SYNC_LOCKS": "a.lock b.lock",
        "WHEELHOUSE_SERVE_HOST": "",  # set but empty: not set
        "WHEELHOUSE_UNRELATED": "x",
    }
    config = config_from_env(env)
    assert config.value("wheelhouse") == "az://c/p"
    assert config.value("extra-index-url") == ("https://a.example/simple", "rel/dir")
    assert config.value("serve.port") == 8082
    assert config.value("serve.ready-max-age") == 90.5
    assert config.value("sync.json") is True
    assert config.value("no-index") is False
    assert config.value("sync.locks") == ("a.lock", "b.lock")  # relative to the current folder
    assert config.value("serve.host") is None
    assert config.get("serve.port").origin == "$WHEELHOUSE_SERVE_PORT"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "WHEELHOUSE_SERVE_PORT",
            "eighty",
            "$WHEELHOUSE_SERVE_PORT ([serve] port): expected an integer",
        ),
        ("WHEELHOUSE_SYNC_JSON", "maybe", "$WHEELHOUSE_SYNC_JSON ([sync] json): expected 1/true"),
        ("WHEELHOUSE_SYNC_TIMEOUT", "inf", "expected a number of seconds, not 'inf'"),
        ("WHEELHOUSE_SERVE_LOG_FORMAT", "xml", "expected one of text, json"),
    ],
)
def test_a_bad_variable_is_named(name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_env({name: text})
    assert message in str(exc.value)


def test_environment_over_file() -> None:
    from_file = parse("[serve]\nport = 9000\nhost = '0.0.0.0'\n")
    merged = config_from_env({"WHEELHOUSE_SERVE_PORT": "9001"}).over(from_file)
    assert merged.value("serve.port") == 9001
    assert merged.value("serve.host") == "0.0.0.0"
    assert merged.source == HERE


def test_keys_are_consistent() -> None:
    """One key per (section, name) and per variable; every section has keys; variables do
    not collide with the ones wheelhouse reads for other purposes."""
    from wheelhouse.mirror.serveconfig import ENV_BASIC, ENV_ROOT, ENV_TOKEN
    from wheelhouse.model.config import ENV_CONFIG

    assert len({(k.section, k.name) for k in KEYS}) == len(KEYS)
    envs = [k.env for k in KEYS]
    assert len(set(envs)) == len(envs)
    assert all(e.startswith("WHEELHOUSE_") for e in envs)
    others = {ENV_BASIC, ENV_ROOT, ENV_TOKEN, ENV_CONFIG, "WHEELHOUSE_BUILD_NETWORK"}
    assert not others & set(envs)
    assert set(SECTIONS) == {"lock", "sync", "serve", "install", "pack"}
    assert key("serve.port").env == "WHEELHOUSE_SERVE_PORT"
    assert key("index-url").option == "--index-url"


def test_load_finds_the_file_and_reads_it(tmp_path: Path) -> None:
    assert find_config(tmp_path, {}) is None
    (tmp_path / "pyproject.toml").write_text("[tool.wheelhouse]\nwheelhouse = 'wh'\n")
    assert find_config(tmp_path, {}) == tmp_path / "pyproject.toml"
    assert load_config(tmp_path / "pyproject.toml").value("wheelhouse") == str(tmp_path / "wh")
    (tmp_path / "wheelhouse.toml").write_text("[sync]\njobs = 2\n")
    assert find_config(tmp_path, {}) == tmp_path / "wheelhouse.toml"  # wins over pyproject
    assert find_config(tmp_path, {"WHEELHOUSE_CONFIG": "/etc/w.toml"}) == Path("/etc/w.toml")
    with pytest.raises(UsageError, match=r"cannot read configuration file .*missing\.toml"):
        load_config(tmp_path / "missing.toml")


def test_another_projects_pyproject_is_not_parsed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nbroken, but none of our business")
    assert load_config(tmp_path / "pyproject.toml").settings == {}


def test_a_password_only_in_a_file_others_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "wheelhouse.toml"
    path.write_text('index-url = "https://bob:s3cret@index.example/simple"\n')
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "index-url holds a password" in str(exc.value) and "s3cret" not in str(exc.value)
    os.chmod(path, 0o600)
    assert load_config(path).value("index-url") == "https://bob:s3cret@index.example/simple"


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wheelhouse.toml"
    path.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(path)


# -- fuzz: any text, any TOML document, any variable: a Config or a ConfigError ------------

_scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.dates(),
    st.lists(st.text(max_size=10), max_size=3),
    st.lists(st.integers(), max_size=3),
)
_names = st.one_of(
    st.sampled_from([k.name for k in KEYS] + list(SECTIONS)), st.text(min_size=1, max_size=8)
)


def _toml_value(value: object) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_any_text(text: str) -> None:
    try:
        config = parse(text)
    except ConfigError as exc:
        assert str(exc).startswith("wheelhouse.toml: ")  # named, never a traceback
        return
    for setting in config.settings.values():
        _check_type(setting.key.kind, setting.value)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([None, *SECTIONS, "unknown"]),
        st.dictionaries(_names, _scalars, max_size=4),
        max_size=4,
    )
)
def test_fuzz_documents_of_known_and_unknown_keys(doc: dict[str | None, dict[str, object]]) -> None:
    top = doc.get(None, {})
    lines = [f"{_quoted(name)} = {_toml_value(value)}" for name, value in top.items()]
    for section, table in doc.items():
        if section is not None:
            lines.append(f"[{section}]")
            lines += [f"{_quoted(name)} = {_toml_value(v)}" for name, v in table.items()]
    try:
        config = parse("\n".join(lines))
    except ConfigError as exc:
        assert str(exc).startswith("wheelhouse.toml")
        return
    for setting in config.settings.values():
        _check_type(setting.key.kind, setting.value)


def _quoted(name: str) -> str:
    import json

    return json.dumps(name)


def _check_type(kind: Kind, value: object) -> None:
    if kind.is_list:
        assert isinstance(value, tuple) and all(isinstance(v, str) and v for v in value)
    elif kind is Kind.BOOL:
        assert isinstance(value, bool)
    elif kind is Kind.INT:
        assert isinstance(value, int) and not isinstance(value, bool)
    elif kind is Kind.NUMBER:
        assert isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        assert isinstance(value, str) and value.strip()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(KEYS), st.text(max_size=40))
def test_fuzz_variables(spec: object, text: str) -> None:
    env = {spec.env: text}  # type: ignore[attr-defined]
    try:
        config = config_from_env(env)
    except ConfigError as exc:
        assert spec.env in str(exc)  # type: ignore[attr-defined]
        return
    for setting in config.settings.values():
        _check_type(setting.key.kind, setting.value)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match=r"wheelhouse\.toml: not valid TOML"):
        parse("find-links = " + "[" * 5000 + "]" * 5000)

"""wheelhouse.toml (or `[tool.wheelhouse]` in pyproject.toml) and the `WHEELHOUSE_*`
environment variables: one typed table of keys, a pure parser for each source.

Every key the file may hold is in `KEYS`, with its type, its environment variable, the
command-line option it stands in for and the commands that take it. The parser checks the
shape of each value (a string, a whole number, a list of strings…); what makes a good port or
URL is checked where the option's own argparse type checks it, at the command line's edge
(wheelhouse/cli/_config.py), so that a value means the same from the file as from a flag.
Relative paths in a file are relative to the file's folder; in the environment, to the
current folder (as on the command line).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Union

from wheelhouse.errors import UsageError

FILE_NAME = "wheelhouse.toml"
PYPROJECT = "pyproject.toml"
PYPROJECT_TABLE = ("tool", "wheelhouse")
ENV_CONFIG = "WHEELHOUSE_CONFIG"  # the file to read instead of ./wheelhouse.toml
MAX_CONFIG_BYTES = 1 << 20  # a configuration file is a page of text; more is not one
MAX_LIST = 1000  # items in one list value

Value = Union[str, int, float, bool, tuple[str, ...]]


class ConfigError(UsageError):
    """A configuration file or variable that cannot be used; names the file (or variable)
    and the key."""


class Kind(Enum):
    """The shape of a key's value, and how a relative path in it is read."""

    STRING = "string"
    BOOL = "boolean"
    INT = "integer"
    NUMBER = "number"  # seconds: an integer or a decimal
    SIZE = "size"  # bytes: an integer, or a string such as "500M"
    PATH = "path"  # relative to the file's folder
    LOCATION = "path or URL"  # a URL (scheme://…) as it is; otherwise a path
    PROFILE = "profile"  # a built-in profile name, or a path to a profile JSON
    COMMAND = "interpreter"  # a program name, docker:IMAGE, or a path (with a `/`)
    ENV_NAME = "variable name"
    STRINGS = "list of strings"
    PATHS = "list of paths"
    LOCATIONS = "list of paths or URLs"

    @property
    def is_list(self) -> bool:
        return self in (Kind.STRINGS, Kind.PATHS, Kind.LOCATIONS)


@dataclass(frozen=True)
class Key:
    """One configuration key: where it lives, what it holds, what it stands in for."""

    section: str | None  # None: the top level
    name: str
    kind: Kind
    option: str  # the command-line option it stands in for, e.g. "--port"; or a positional
    commands: tuple[str, ...]  # the commands that take that option
    default: str  # as documented (the option's own default applies)
    help: str
    env: str = ""  # derived from section and name unless given
    choices: tuple[str, ...] = ()
    # options of the same commands that, given on the command line, set this key aside
    yields_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.env:
            words = [self.section, self.name] if self.section else [self.name]
            env = "WHEELHOUSE_" + "_".join(w.upper().replace("-", "_") for w in words)
            object.__setattr__(self, "env", env)

    @property
    def dotted(self) -> str:
        """serve.port; index-url for a top-level key."""
        return f"{self.section}.{self.name}" if self.section else self.name

    @property
    def where(self) -> str:
        """How an error names the key: `[serve] port`, or `index-url` at the top."""
        return f"[{self.section}] {self.name}" if self.section else self.name


_INDEX = ("lock", "sync", "snapshot")
_WHEELHOUSE = ("sync", "prune", "serve", "install", "verify", "image-env", "nginx-config")

KEYS: tuple[Key, ...] = (
    Key(
        None,
        "wheelhouse",
        Kind.LOCATION,
        "--wheelhouse",
        _WHEELHOUSE,
        "none",
        "the wheelhouse: a folder, or az://CONTAINER/PREFIX (Azure Blob Storage)",
        env="WHEELHOUSE_LOCATION",
    ),
    Key(
        None,
        "index-url",
        Kind.LOCATION,
        "--index-url",
        _INDEX,
        "pip's configuration",
        "the main package index (a URL or a folder); replaces pip's configured sources",
    ),
    Key(
        None,
        "extra-index-url",
        Kind.LOCATIONS,
        "--extra-index-url",
        _INDEX,
        "pip's configuration",
        "more package indexes",
    ),
    Key(
        None,
        "find-links",
        Kind.LOCATIONS,
        "--find-links",
        _INDEX,
        "pip's configuration",
        "folders or pages of files to look in",
    ),
    Key(None, "no-index", Kind.BOOL, "--no-index", _INDEX, "false", "use find-links only"),
    Key(
        None,
        "cache-dir",
        Kind.PATH,
        "--cache-dir",
        ("lock", "snapshot"),
        "~/.cache/wheelhouse",
        "the cache of index pages and metadata",
    ),
    Key(
        None,
        "image",
        Kind.PROFILE,
        "--image",
        ("lock", "verify", "image-env"),
        "the built-in profile",
        "the target: a built-in profile name or a profile JSON file",
        yields_to=("--python-version", "--platform"),
    ),
    Key(
        "lock",
        "requirements",
        Kind.PATHS,
        "--requirement",
        ("lock",),
        "none",
        "requirements files to lock",
    ),
    Key(
        "lock",
        "output",
        Kind.PATH,
        "--output",
        ("lock",),
        "requirements.lock",
        "the requirements lock to write",
    ),
    Key(
        "lock",
        "pylock",
        Kind.PATH,
        "--pylock",
        ("lock",),
        "beside output",
        "where to write the PEP 751 lock",
    ),
    Key(
        "lock",
        "exclude-newer",
        Kind.STRING,
        "--exclude-newer",
        ("lock",),
        "none",
        "ignore files uploaded after this date (YYYY-MM-DD or a timestamp)",
    ),
    Key(
        "lock",
        "no-overrides",
        Kind.BOOL,
        "--no-overrides",
        ("lock",),
        "false",
        "never replace an image package",
    ),
    Key(
        "lock",
        "allow-sdist",
        Kind.STRINGS,
        "--allow-sdist",
        ("lock",),
        "none",
        'projects that may be locked as an sdist (":all:" for every one)',
    ),
    Key(
        "lock",
        "build-with",
        Kind.COMMAND,
        "--build-with",
        ("lock",),
        "none",
        "the target's interpreter (or docker:IMAGE) that builds allowed sdists",
    ),
    Key(
        "sync",
        "locks",
        Kind.PATHS,
        "LOCK",
        ("sync",),
        "none",
        "the locks to sync (requirements.lock or pylock.toml files)",
    ),
    Key(
        "sync",
        "jobs",
        Kind.INT,
        "--jobs",
        ("sync",),
        "8",
        "parallel downloads",
    ),
    Key(
        "sync",
        "timeout",
        Kind.NUMBER,
        "--timeout",
        ("sync",),
        "pip's timeout, else 15",
        "seconds without data before a retry",
    ),
    Key(
        "sync",
        "max-file-size",
        Kind.SIZE,
        "--max-file-size",
        ("sync",),
        "8G",
        "the most bytes taken for a file whose lock gives no size",
    ),
    Key(
        "sync",
        "http2",
        Kind.BOOL,
        "--http2",
        ("sync",),
        "false",
        "use HTTP/2 where the server offers it",
    ),
    Key(
        "sync",
        "build-with",
        Kind.COMMAND,
        "--build-with",
        ("sync",),
        "none",
        "build locked sdists with this interpreter (or docker:IMAGE)",
    ),
    Key(
        "sync",
        "advisories",
        Kind.LOCATION,
        "--advisories",
        ("sync",),
        "none",
        "an OSV export (URL or file) to keep in the wheelhouse for offline audits",
        env="WHEELHOUSE_ADVISORIES_URL",
    ),
    Key(
        "sync",
        "json",
        Kind.BOOL,
        "--json",
        ("sync",),
        "false",
        "print the JSON summary on standard output",
    ),
    Key("serve", "host", Kind.STRING, "--host", ("serve",), "127.0.0.1", "address to listen on"),
    Key("serve", "port", Kind.INT, "--port", ("serve",), "8080", "TCP port"),
    Key(
        "serve",
        "workers",
        Kind.INT,
        "--workers",
        ("serve",),
        "the CPUs it may use (within its CPU quota)",
        "worker processes",
    ),
    Key(
        "serve",
        "token-env",
        Kind.ENV_NAME,
        "--token-env",
        ("serve",),
        "WHEELHOUSE_SERVE_TOKEN",
        "the environment variable holding the token to require (Bearer, or any user's "
        "password); when named here it must be set",
    ),
    Key(
        "serve",
        "basic-auth-env",
        Kind.ENV_NAME,
        "--basic-auth-env",
        ("serve",),
        "WHEELHOUSE_SERVE_BASIC_AUTH",
        "the environment variable holding USER:PASSWORD for Basic auth; when named here it "
        "must be set",
    ),
    Key(
        "serve",
        "log-format",
        Kind.STRING,
        "--log-format",
        ("serve",),
        "text",
        "the access log and the tool's own log lines: text, or json (one object a line)",
        choices=("text", "json"),
    ),
    Key(
        "serve",
        "ready-max-age",
        Kind.NUMBER,
        "--ready-max-age",
        ("serve",),
        "none",
        "seconds after the last sync when /ready stops answering 200",
    ),
    Key(
        "install",
        "target",
        Kind.PATH,
        "--target",
        ("install",),
        "none",
        "the folder to (re)make",
    ),
    Key(
        "install",
        "compile-with",
        Kind.COMMAND,
        "--compile-with",
        ("install",),
        "none",
        "write byte-code with this interpreter (the target's X.Y)",
    ),
    Key(
        "install",
        "jobs",
        Kind.INT,
        "--jobs",
        ("install",),
        "one per CPU, at most 16",
        "wheels installed at once",
    ),
    Key(
        "pack",
        "output",
        Kind.LOCATION,
        "--output",
        ("pack",),
        "none",
        "the artifact to write (ARTIFACT.tar.gz, or az://CONTAINER/NAME.tar.gz)",
    ),
)

SECTIONS = tuple(dict.fromkeys(k.section for k in KEYS if k.section))
_BY_WHERE = {(k.section, k.name): k for k in KEYS}


@dataclass(frozen=True)
class Setting:
    """A key's value and where it came from (a file's name, or `$VARIABLE`)."""

    key: Key
    value: Value
    origin: str

    @property
    def where(self) -> str:
        return f"{self.origin}: {self.key.where}"


@dataclass(frozen=True)
class Config:
    """The keys that are set, by dotted name; `source` is the file read, if any."""

    settings: Mapping[str, Setting] = field(default_factory=dict)
    source: Path | None = None

    def get(self, dotted: str) -> Setting | None:
        return self.settings.get(dotted)

    def value(self, dotted: str) -> Value | None:
        setting = self.settings.get(dotted)
        return None if setting is None else setting.value

    def over(self, lower: Config) -> Config:
        """These settings where set, `lower`'s otherwise."""
        return Config({**lower.settings, **self.settings}, self.source or lower.source)


def key(dotted: str) -> Key:
    """The key named `serve.port` (or `index-url` at the top)."""
    section, _, name = dotted.rpartition(".")
    return _BY_WHERE[(section or None, name)]


# -- the file --------------------------------------------------------------------------------


def parse_config(text: str, source: Path, pyproject: bool = False) -> Config:
    """The settings in `text`, the content of the file `source` (wheelhouse.toml, or a
    pyproject.toml whose `[tool.wheelhouse]` table is read). Relative paths are taken from
    `source`'s folder. Every problem is collected and raised at once, as a ConfigError."""
    doc = _toml(text, source)
    prefix = ""
    if pyproject:
        table: Any = doc
        for part in PYPROJECT_TABLE:
            table = table.get(part, {}) if isinstance(table, dict) else {}
        doc = table
        prefix = ".".join(PYPROJECT_TABLE)
        if not isinstance(doc, dict):
            raise ConfigError(f"{source.name}: [{prefix}] must be a table")
    settings: dict[str, Setting] = {}
    problems: list[str] = []
    origin = source.name
    for name, raw in doc.items():
        if name in SECTIONS:
            head = f"[{prefix}.{name}]" if prefix else f"[{name}]"
            if not isinstance(raw, dict):
                problems.append(f"{head} must be a table, not {_shape(raw)}")
                continue
            for sub, item in raw.items():
                _one(name, sub, item, source, origin, settings, problems, head)
        else:
            head = f"[{prefix}]" if prefix else ""
            _one(None, name, raw, source, origin, settings, problems, head)
    if problems:
        raise ConfigError("\n".join(f"{origin}: {p}" for p in problems))
    return Config(settings, source)


def _toml(text: str, source: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # the decoder's message ends "(at line L, column C)"
        raise ConfigError(f"{source.name}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source.name}: not valid TOML: nested too deeply") from None


def _one(
    section: str | None,
    name: str,
    raw: Any,
    base: Path,
    origin: str,
    settings: dict[str, Setting],
    problems: list[str],
    head: str,
) -> None:
    spec = _BY_WHERE.get((section, name))
    lead = f"{head} " if head else ""
    if spec is None:
        if section is None and isinstance(raw, dict):
            problems.append(f"unknown section [{name}]{_suggest(name, SECTIONS)}")
            return
        known = [k.name for k in KEYS if k.section == section]
        problems.append(f"{lead}unknown key {name!r}{_suggest(name, known)}")
        return
    try:
        value = from_toml(spec, raw, base.parent)
    except ValueError as exc:
        problems.append(f"{lead}{name}: {exc}")
        return
    settings[spec.dotted] = Setting(spec, value, origin)


def _suggest(name: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name.replace("_", "-"), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _shape(raw: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for t, word in names.items():
        if isinstance(raw, t):
            return f"{word} ({raw!r})" if not isinstance(raw, str) or len(raw) < 60 else word
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "a table"
    return f"a {type(raw).__name__}"  # dates and times


def from_toml(spec: Key, raw: Any, base: Path | None) -> Value:
    """A key's value from a parsed TOML value; ValueError says what was expected."""
    kind = spec.kind
    if kind.is_list:
        if isinstance(raw, str):
            raw = [raw]  # one item needs no brackets
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise ValueError(f"expected a list of strings, not {_shape(raw)}")
        if len(raw) > MAX_LIST:
            raise ValueError(f"more than {MAX_LIST} items")
        return tuple(_text(spec, x, base) for x in raw)
    if kind is Kind.BOOL:
        if not isinstance(raw, bool):
            raise ValueError(f"expected true or false, not {_shape(raw)}")
        return raw
    if kind is Kind.INT:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"expected an integer, not {_shape(raw)}")
        return raw
    if kind is Kind.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise ValueError(f"expected a number of seconds, not {_shape(raw)}")
        return raw
    if kind is Kind.SIZE:
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ValueError(f"expected a size (e.g. 8G or bytes), not {_shape(raw)}")
        return str(raw)
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, not {_shape(raw)}")
    return _text(spec, raw, base)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _text(spec: Key, text: str, base: Path | None) -> str:
    """A string value checked for its kind; a relative path joined to `base`."""
    if "\x00" in text:
        raise ValueError("a NUL character is not allowed")
    kind = spec.kind
    if spec.choices and text not in spec.choices:
        raise ValueError(f"expected one of {', '.join(spec.choices)}, not {text!r}")
    if kind is Kind.ENV_NAME and not _ENV_NAME.fullmatch(text):
        raise ValueError(f"not the name of an environment variable: {text!r}")
    if not text.strip():
        raise ValueError("empty")
    is_path = (
        kind in (Kind.PATH, Kind.PATHS)
        or (kind in (Kind.LOCATION, Kind.LOCATIONS) and not _SCHEME.match(text))
        or (kind is Kind.PROFILE and (text.endswith(".json") or "/" in text))
        or (kind is Kind.COMMAND and "/" in text and not text.startswith("docker:"))
    )
    if is_path and base is not None:
        return str(base / Path(text).expanduser())
    return text


# -- the environment -------------------------------------------------------------------------

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def config_from_env(env: Mapping[str, str]) -> Config:
    """The settings of the `WHEELHOUSE_*` variables that are set (lists: separated by
    whitespace; booleans: 1/true/yes/on or 0/false/no/off). Paths stay relative to the
    current folder. A variable that is set but empty counts only for a boolean (false)."""
    settings: dict[str, Setting] = {}
    problems: list[str] = []
    for spec in KEYS:
        text = env.get(spec.env)
        if text is None or (not text.strip() and spec.kind is not Kind.BOOL):
            continue
        try:
            settings[spec.dotted] = Setting(spec, from_env(spec, text), f"${spec.env}")
        except ValueError as exc:
            problems.append(f"${spec.env} ({spec.where}): {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return Config(settings)


def from_env(spec: Key, text: str) -> Value:
    """A key's value from the text of its environment variable."""
    kind = spec.kind
    if kind.is_list:
        items = text.split()
        if len(items) > MAX_LIST:
            raise ValueError(f"more than {MAX_LIST} items")
        return tuple(_text(spec, x, None) for x in items)
    if kind is Kind.BOOL:
        word = text.strip().lower()
        if word not in _TRUE + _FALSE:
            raise ValueError(f"expected 1/true/yes/on or 0/false/no/off, not {text!r}")
        return word in _TRUE
    if kind is Kind.INT:
        if not re.fullmatch(r"\s*[+-]?[0-9]{1,18}\s*", text):
            raise ValueError(f"expected an integer, not {text!r}")
        return int(text)
    if kind is Kind.NUMBER:
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number of seconds, not {text!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a number of seconds, not {text!r}")
        return number
    return _text(spec, text.strip(), None)


# -- finding and reading the file -------------------------------------------------------------


def find_config(cwd: Path, env: Mapping[str, str]) -> Path | None:
    """The file to read when none is given: $WHEELHOUSE_CONFIG, else ./wheelhouse.toml,
    else ./pyproject.toml when it mentions wheelhouse (its `[tool.wheelhouse]`)."""
    named = env.get(ENV_CONFIG)
    if named:
        return Path(named)
    for name in (FILE_NAME, PYPROJECT):
        if (cwd / name).is_file():
            return cwd / name
    return None


def load_config(path: Path) -> Config:
    """The settings of the file `path` (a pyproject.toml: its `[tool.wheelhouse]` table).
    A file that holds a password (in an index URL) must not be readable by everyone."""
    path = Path(os.path.abspath(path))
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
            mode = os.fstat(f.fileno()).st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes: not a configuration")
    pyproject = path.name == PYPROJECT
    if pyproject and b"wheelhouse" not in data:
        return Config(source=path)  # another project's file, with nothing for us
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 (byte {exc.start})") from None
    config = parse_config(text, path, pyproject=pyproject)
    secret = [s for s in config.settings.values() if _has_password(s)]
    if secret and mode & 0o004:
        raise ConfigError(
            f"{path.name}: {secret[0].key.where} holds a password and the file is readable "
            f"by everyone: chmod o-r {path}, or keep the password in pip's configuration "
            "or ~/.netrc"
        )
    return config


def _has_password(setting: Setting) -> bool:
    values = setting.value if isinstance(setting.value, tuple) else (setting.value,)
    return any(
        isinstance(v, str) and re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@", v)
        for v in values
    )

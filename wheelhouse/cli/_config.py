"""The configuration at the command line's edge: flags > environment > file > defaults.

The file's and the environment's settings become the defaults of the options they stand in
for (model/config.py names each option), converted by the option's own argparse type, so a
value is checked the same way wherever it comes from and an error names its key and origin.
A flag given on the command line then wins as flags do; a list flag (--find-links …)
replaces the configured list rather than adding to it.

Light to import (no dataclasses): model/config.py is loaded only where there is something
to read, so that `wheelhouse --help` outside a configured folder starts as fast as before.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from wheelhouse.errors import UsageError

if TYPE_CHECKING:
    from wheelhouse.model.config import Config, Key, Setting

CONFIG_HELP = (
    "read the configuration from FILE (default: $WHEELHOUSE_CONFIG, else ./wheelhouse.toml, "
    "else [tool.wheelhouse] in ./pyproject.toml)"
)
NO_CONFIG_HELP = "read no configuration file (WHEELHOUSE_* variables still apply)"
ENV_PREFIX = "WHEELHOUSE_"  # every key's variable, and $WHEELHOUSE_CONFIG, start so
CONFIG_FILES = ("wheelhouse.toml", "pyproject.toml")  # model.config.find_config's names


def add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", type=Path, help=CONFIG_HELP)
    parser.add_argument("--no-config", action="store_true", help=NO_CONFIG_HELP)


class GlobalFlags(NamedTuple):
    config: Path | None = None
    no_config: bool = False


def scan_global(argv: Sequence[str]) -> GlobalFlags:
    """--config FILE / --no-config among the options before the command name (they must be
    known before the command's options are parsed, as they give those their defaults)."""
    config, no_config = None, False
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        if arg == "--config" and i + 1 < len(argv):
            config = Path(argv[i + 1])
            i += 1
        elif arg.startswith("--config="):
            config = Path(arg.partition("=")[2])
        elif arg == "--no-config":
            no_config = True
        i += 1
    return GlobalFlags(config, no_config)


def load_settings(
    flags: GlobalFlags, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Config | None:
    """The environment's settings over the file's; None where there can be none (no file
    given or in the current folder, no WHEELHOUSE_* variable)."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if flags.config is not None and flags.no_config:
        raise UsageError("give --config FILE or --no-config, not both")
    files = not flags.no_config and any((cwd / name).is_file() for name in CONFIG_FILES)
    variables = any(name.startswith(ENV_PREFIX) for name in env)
    if flags.config is None and not files and not variables:
        return None
    from wheelhouse.model.config import Config, config_from_env, find_config, load_config

    path = flags.config
    if path is None and not flags.no_config:
        path = find_config(cwd, env)
    from_file = Config() if path is None else load_config(path)
    return config_from_env(env).over(from_file)


class _ConfigList(list):  # type: ignore[type-arg]
    """A configured list as an append option's default: argparse copies it and appends
    the flags given, which then replace it (see Applied.settle)."""


class _Default(NamedTuple):
    command: str
    dest: str
    original: Any
    value: Any
    setting: Setting


class Applied:
    """The defaults that came from the configuration, to settle after parsing."""

    def __init__(self) -> None:
        self.defaults: list[_Default] = []

    def settle(self, args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
        """Flags given for a list replace the configured list; a key set aside by a flag
        it yields to (`image` by --python-version) goes back to the option's default."""
        command = getattr(args, "command", None)
        sub = _subparsers(parser).get(command or "")
        for d in self.defaults:
            if d.command != command or sub is None:
                continue
            value = getattr(args, d.dest, None)
            if isinstance(value, _ConfigList):
                given = list(value)[len(d.value) :]
                setattr(args, d.dest, given or list(d.value))
                if given:
                    continue
            elif value is not d.value:
                continue  # given on the command line
            if _yields(d.setting.key, args, sub):
                setattr(args, d.dest, d.original)


def _yields(spec: Key, args: argparse.Namespace, sub: argparse.ArgumentParser) -> bool:
    for option in spec.yields_to:
        action = _action(sub, option)
        if action is not None and getattr(args, action.dest, None) != action.default:
            return True
    return False


def apply_settings(parser: argparse.ArgumentParser, config: Config | None) -> Applied:
    """Each setting as the default of its option in each command that has it."""
    applied = Applied()
    if config is None:
        return applied
    subs = _subparsers(parser)
    for setting in config.settings.values():
        spec = setting.key
        for command in spec.commands:
            sub = subs.get(command)
            action = None if sub is None else _action(sub, spec.option)
            if action is None:
                continue  # a command or an option of another version of wheelhouse
            value = _convert(action, setting)
            original = action.default
            if isinstance(action, argparse._AppendAction):
                value = _ConfigList(value)
            action.default = value
            action.required = False
            if action.nargs == "+":
                action.nargs = "*"
            applied.defaults.append(_Default(command, action.dest, original, value, setting))
    return applied


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _action(sub: argparse.ArgumentParser, option: str) -> argparse.Action | None:
    """The action of `option` ("--port"; a positional by its metavar, "LOCK")."""
    if option.startswith("-"):
        return sub._option_string_actions.get(option)
    for action in sub._actions:
        if not action.option_strings and option in (action.metavar, action.dest):
            return action
    return None


def _convert(action: argparse.Action, setting: Setting) -> Any:
    value = setting.value
    if action.nargs == 0:  # a switch (store_true)
        if not isinstance(value, bool):
            raise UsageError(f"{setting.where}: expected true or false")
        return value
    if isinstance(value, tuple):
        return [_one(action, item, setting) for item in value]
    return _one(action, str(value), setting)


def _one(action: argparse.Action, text: str, setting: Setting) -> Any:
    convert = action.type if callable(action.type) else None
    try:
        value = convert(text) if convert is not None else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise UsageError(f"{setting.where}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise UsageError(f"{setting.where}: expected one of {choices}, not {text!r}")
    return value

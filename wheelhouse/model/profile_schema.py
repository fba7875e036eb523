"""The profile file's format, version 1: every field, its type and whether it is required.

`check_profile` reads a parsed JSON document against it, collects every problem (each named
by its field path, e.g. `installed[3].version`) and raises one UsageError naming the file,
so that `Profile.from_dict` only ever sees well-typed data. Written out here rather than with
a JSON Schema library: a dozen fields, messages in the project's words, no new dependency on
the path of every `lock` (0.7 ms for the built-in profile's 1,400 lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from packaging.version import InvalidVersion, Version

from wheelhouse.errors import UsageError

FORMAT_VERSION = 1
MAX_SHOWN = 20  # problems listed in one message

# What evaluating PEP 508 markers for the target needs (packaging's default environment).
MARKER_NAMES = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
)
_TAG = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+$")

Check = Callable[[Any, str], list[str]]


def _kind(value: Any) -> str:
    names = {dict: "a table", list: "a list", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else "?")


def _string(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, str) else [f"{path}: expected a string, got {_kind(value)}"]


def _text(value: Any, path: str) -> list[str]:
    if isinstance(value, str) and not value.strip():
        return [f"{path}: must not be empty"]
    return _string(value, path)


def _boolean(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, bool) else [f"{path}: expected true or false, got {value!r}"]


def _or_null(check: Check) -> Check:
    return lambda value, path: [] if value is None else check(value, path)


def _python_version(value: Any, path: str) -> list[str]:
    problems = _text(value, path)
    if problems:
        return problems
    try:
        Version(value)
    except InvalidVersion:
        return [f"{path}: {value!r} is not a Python version (e.g. 3.7.16)"]
    return []


def _tag(value: Any, path: str) -> list[str]:
    if isinstance(value, str) and not _TAG.match(value):
        return [f"{path}: {value!r} is not a wheel tag (e.g. cp37-cp37m-manylinux2014_x86_64)"]
    return _string(value, path)


def _list(item: Check, nonempty: bool = False) -> Check:
    def check(value: Any, path: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {_kind(value)}"]
        if nonempty and not value:
            return [f"{path}: must not be empty"]
        return [p for i, v in enumerate(value) for p in item(v, f"{path}[{i}]")]

    return check


def _table(fields: Mapping[str, tuple[bool, Check]], open_ended: bool = False) -> Check:
    """A JSON object with these fields (name -> (required, check)); others refused unless
    `open_ended`."""

    def check(value: Any, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path or 'the profile'}: expected a table, got {_kind(value)}"]
        prefix = f"{path}." if path else ""
        problems = [
            f"{prefix}{name}: missing (required)"
            for name, (required, _) in fields.items()
            if required and name not in value
        ]
        for name, item in value.items():
            if name in fields:
                problems += fields[name][1](item, f"{prefix}{name}")
            elif not open_ended:
                known = ", ".join(fields)
                problems.append(f"{prefix}{name}: unknown field (known: {known})")
        return problems

    return check


def _markers(value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected a table, got {_kind(value)}"]
    problems = [f"{path}.{n}: missing (required)" for n in MARKER_NAMES if n not in value]
    return problems + [p for k, v in value.items() for p in _string(v, f"{path}.{k}")]


_INSTALLED = _table(
    {
        "name": (True, _text),
        "version": (True, _text),
        "requires_dist": (False, _or_null(_list(_string))),
        "requires_python": (False, _or_null(_string)),
    }
)
_IMAGE_FILE = _table(
    {
        "name": (True, _text),
        "version": (True, _text),
        "filename": (True, _text),
        "url": (False, _or_null(_string)),
        "sha256": (False, _string),
    }
)
_EXTRA = _table(
    {"files": (False, _list(_IMAGE_FILE)), "python_version_assumed": (False, _boolean)},
    open_ended=True,  # other facts, kept as they are
)
_PROFILE = _table(
    {
        "version": (False, lambda v, p: []),  # checked first, see format_version
        "format": (False, lambda v, p: []),  # the earlier name of `version`, still read
        "name": (True, _text),
        "description": (False, _string),
        "source": (False, _string),
        "python_version": (True, _python_version),
        "implementation": (True, _text),
        "abis": (True, _list(_text, nonempty=True)),
        "platforms": (True, _list(_text, nonempty=True)),
        "tags": (True, _list(_tag, nonempty=True)),
        "markers": (True, _markers),
        "installed_requirements_known": (False, _boolean),
        "installed": (False, _list(_INSTALLED)),
        "extra": (False, _EXTRA),
    }
)


def format_version(data: Mapping[str, Any], where: str) -> int:
    """The document's format version (`version`, formerly `format`); refuses others."""
    value = data.get("version", data.get("format"))
    if value is None:
        raise UsageError(
            f"profile {where}: no 'version' field (the profile format's version; "
            f'this wheelhouse reads version {FORMAT_VERSION}: add "version": {FORMAT_VERSION})'
        )
    if value != FORMAT_VERSION or isinstance(value, bool):
        raise UsageError(
            f"profile {where}: format version {value!r} is not one this wheelhouse reads "
            f"(it reads {FORMAT_VERSION}); a newer wheelhouse wrote it, or it is no profile"
        )
    return FORMAT_VERSION


def check_profile(data: Any, where: str) -> None:
    """Raise one UsageError listing every way `data` is not a version 1 profile."""
    if not isinstance(data, dict):
        raise UsageError(f"profile {where}: expected a JSON object (a table), got {_kind(data)}")
    format_version(data, where)
    problems = _PROFILE(data, "")
    if len(problems) == 1:
        raise UsageError(f"profile {where}: {problems[0]}")
    if problems:
        shown = problems[:MAX_SHOWN] + (
            [f"... and {len(problems) - MAX_SHOWN} more"] if len(problems) > MAX_SHOWN else []
        )
        raise UsageError(f"profile {where}: {len(problems)} problems:\n  " + "\n  ".join(shown))

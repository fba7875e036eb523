"""The README's table of exit codes is the code's: each row's constant has its code, and
every exit code an error class carries has a row."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import wheelhouse
import wheelhouse.cli
import wheelhouse.errors
import wheelhouse.image.run
from wheelhouse.errors import WheelhouseError

README = Path(__file__).parents[2] / "README.md"


def _table() -> dict[int, str]:
    """code -> the name in the "in the code" column ("" for none)."""
    text = README.read_text()
    section = text.split("\n### Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit():
            rows[int(cells[0])] = cells[2].strip("`")
    return rows


def _value(name: str) -> int:
    for module in (wheelhouse.errors, wheelhouse.image.run, wheelhouse.cli):
        if hasattr(module, name):
            found = getattr(module, name)
            code: int = found.exit_code if isinstance(found, type) else found
            return code
    raise AssertionError(f"README names {name}, which is nowhere in the code")


def _error_classes() -> list[type[WheelhouseError]]:
    for info in pkgutil.walk_packages(wheelhouse.__path__, "wheelhouse."):
        if not info.name.endswith(("_snapshot_script", "__main__")):
            importlib.import_module(info.name)
    found, todo = [], [WheelhouseError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_each_row_is_the_codes_constant() -> None:
    table = _table()
    assert table[0] == ""
    for code, name in table.items():
        if name:
            assert _value(name) == code, f"README: {code} is {name}, which is {_value(name)}"


def test_every_error_classes_code_is_in_the_table() -> None:
    table = _table()
    for cls in _error_classes():
        code = cls.__dict__.get("exit_code")
        if isinstance(code, int):  # set per instance otherwise (the run's own start codes)
            assert code in table, f"{cls.__name__} exits {code}: not in README's table"
    assert {1, 2, 3, 4, 5, 6} <= set(table)
    assert table[130] == "EXIT_INTERRUPTED" and table[143] == "EXIT_TERMINATED"

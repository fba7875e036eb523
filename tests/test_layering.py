"""The architecture, enforced: each part of wheelhouse imports only the parts below it.

    cli                                   parse, call one library function, print
    resolver   mirror   artifact   image  the four jobs: none imports another
    net   store                           the network; where a wheelhouse lives
    model                                 the values and their file formats
    base: errors, files, interpreters,    the root error, the one file writer, the target's
          progress                        interpreter, progress reports

Every import counts: at the top of a module, inside a function, or for type checking only.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import wheelhouse

ROOT = Path(wheelhouse.__file__).parent
LAYERS = [
    {"cli"},
    {"resolver", "mirror", "artifact", "image"},
    {"net", "store"},
    {"model"},
    {"base"},
]
RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())


def part_of(module: str) -> str:
    """wheelhouse.net.http -> "net"; wheelhouse.errors, wheelhouse -> "base"."""
    pieces = module.split(".")
    if len(pieces) > 1 and pieces[1] in PACKAGES:
        return pieces[1]
    return "cli" if pieces[1:2] == ["__main__"] else "base"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every wheelhouse import in a file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from wheelhouse import cli` names a part too
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, m) for line, m in found if m == "wheelhouse" or m.startswith("wheelhouse.")]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


def test_every_part_is_in_a_layer() -> None:
    assert set(PACKAGES) | {"base"} == set(RANK)


def test_each_part_imports_only_parts_below_it() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        mine = part_of(module_name(path))
        for line, target in imports(path):
            theirs = part_of(target)
            if theirs != mine and RANK[theirs] <= RANK[mine]:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {mine} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The walk finds imports inside functions and under TYPE_CHECKING too."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from wheelhouse.mirror.sync import sync\n"
        "def f():\n    import wheelhouse.cli\n"
    )
    assert [part_of(m) for _, m in imports(bad)] == ["mirror", "mirror", "cli"]


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "cli"])
def test_package_api(package: str) -> None:
    """`__all__` resolves, lazily, and no exported name is also a submodule's name (importing
    that submodule would replace the exported function with the module)."""
    module = importlib.import_module(f"wheelhouse.{package}")
    submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
    assert module.__all__, f"wheelhouse.{package} exports nothing"
    assert not set(module.__all__) & submodules
    for name in module.__all__:
        assert getattr(module, name) is not None
    assert module.__doc__ and "Imports" in module.__doc__  # says what it may import

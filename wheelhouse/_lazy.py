"""Package APIs that cost nothing until used: `__getattr__` imports a name's module on
first access (PEP 562), so `import wheelhouse.resolver.locker` does not pay for resolvelib,
nor `wheelhouse --help` for httpx."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`; `exports` maps each module (relative to the
    package) to the names it exports, space-separated. A name may not be a submodule's:
    importing the submodule would set the package attribute to the module instead."""
    where = {
        name: f"{package}.{module}" for module, names in exports.items() for name in names.split()
    }

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__


def exported(exports: Mapping[str, str]) -> list[str]:
    """The names of `exports`, for `__all__`."""
    return sorted(name for names in exports.values() for name in names.split())

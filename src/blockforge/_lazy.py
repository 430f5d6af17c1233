"""Lazy package exports: names resolved from their defining module on first access.

Keeps ``import blockforge`` (and ``blockforge.interop``) free of torch until a torch-backed name is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, table: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for a package whose exports load on first use.

    Args:
        package: the package's name, for error messages.
        table: exported name -> the module that defines it.
        namespace: the package's ``globals()``; a resolved name is cached there.

    Returns:
        ``(__getattr__, __dir__)`` to assign in the package's ``__init__``.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace.get("__all__", ()), *table})

    return __getattr__, __dir__

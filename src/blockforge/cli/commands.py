"""Every ``blockforge`` command, registered in one place: name -> ``module:function``.

A command module is imported only when its command runs (or when help lists every command), so
``blockforge validate`` loads neither the other commands nor what they import.

To add a command: write ``blockforge/cli/<name>.py`` with a plain function (typer annotations, a
docstring for ``--help``; no decorator), then add one row to :data:`COMMANDS`. The row order is the
order ``blockforge --help`` lists them in.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from typer.core import TyperGroup

COMMANDS: dict[str, str] = {
    "validate": "blockforge.cli.validate:validate",
    "resolve": "blockforge.cli.resolve:resolve",
    "plan": "blockforge.cli.plan:plan",
    "summary": "blockforge.cli.summary:summary",
    "compare": "blockforge.cli.compare:compare",
    "diff": "blockforge.cli.diff:diff",
    "build": "blockforge.cli.build:build",
    "draw": "blockforge.cli.draw:draw",
    "generate": "blockforge.cli.generate:generate",
    "chat": "blockforge.cli.chat:chat",
    "train": "blockforge.cli.train:train",
    "components": "blockforge.cli.components:components",
    "plugins": "blockforge.cli.plugins:plugins",
    "schema": "blockforge.cli.schema:schema",
    "import-hf": "blockforge.cli.import_hf:import_hf",
    "new-plugin": "blockforge.cli.new_plugin:new_plugin",
}
"""Command name -> ``"module:function"`` of its implementation."""

TYPER_SETTINGS: dict[str, Any] = {"add_completion": False, "pretty_exceptions_enable": False,
                                  "rich_markup_mode": "rich"}
"""Settings shared by the app and each command built from the table."""


def load_command(name: str, target: str) -> Any:
    """The click command for one table row: import its module and let typer read the function.

    Args:
        name: the command's name on the command line.
        target: ``"package.module:function"``.

    Returns:
        A typer (click) command object.
    """
    import typer

    module, _, attr = target.partition(":")
    function = getattr(importlib.import_module(module), attr)
    one = typer.Typer(**TYPER_SETTINGS)
    one.command(name)(function)
    return typer.main.get_command(one)


class _LazyCommands(MutableMapping[str, Any]):
    """The group's command mapping: names from the table, each command built on first lookup."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self._table:
                raise KeyError(name)
            self._loaded[name] = load_command(name, self._table[name])
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._table.setdefault(name, "")
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._table[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


GLOBAL_FLAGS = frozenset({"--no-plugins", "--strict-plugins", "--version"})
"""Global options without a value; accepted before or after the command."""
GLOBAL_VALUED = frozenset({"--disable-plugin"})
"""Global options that take a value (``--disable-plugin NAME`` or ``--disable-plugin=NAME``)."""


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options written after the command (``validate x --no-plugins``) before it.

    Everything after ``--`` is left alone, and so is a value that an option before it takes
    (``--set name=--no-plugins`` is one token and stays).

    Args:
        args: the command line after the program name.

    Returns:
        The same tokens, global options first.
    """
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":  # options before the command
        i += 2 if args[i] in GLOBAL_VALUED else 1
    if i >= len(args) or args[i] == "--":
        return list(args)
    head, command, rest = list(args[:i]), args[i], args[i + 1 :]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == "--":
            kept += rest[j:]
            break
        if token in GLOBAL_FLAGS or token.split("=", 1)[0] in GLOBAL_VALUED and "=" in token:
            moved.append(token)
        elif token in GLOBAL_VALUED and j + 1 < len(rest):
            moved += [token, rest[j + 1]]
            j += 1
        else:
            kept.append(token)
        j += 1
    return [*head, *moved, command, *kept]


class CommandTable(TyperGroup):
    """The ``blockforge`` group: its commands are the rows of :data:`COMMANDS`, imported lazily.

    Global options (``--no-plugins``, ``--disable-plugin NAME``, ``--strict-plugins``, ``--version``)
    may also follow the command: :func:`hoist_global_options` moves them before it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(COMMANDS)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse the group's options, global options after the command included."""
        return super().parse_args(ctx, hoist_global_options(args))

    def list_commands(self, ctx: Any) -> list[str]:
        """The command names in table order (without importing any command)."""
        return list(self.commands)


__all__ = ["COMMANDS", "CommandTable", "hoist_global_options", "load_command"]

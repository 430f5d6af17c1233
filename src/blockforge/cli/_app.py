"""The typer application object and what every command shares: options, consoles, error handling.

Commands are listed in :mod:`blockforge.cli.commands` (one table); the global options become a
:class:`~blockforge.cli.context.CliContext` in ``ctx.obj``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from blockforge.cli.commands import TYPER_SETTINGS, CommandTable
from blockforge.cli.context import CliContext
from blockforge.errors import BlockforgeError, SpecError
from blockforge.registry.plugins import PluginOptions

app = typer.Typer(
    name="blockforge",
    help="Compile declarative model specs (YAML/JSON) into runnable PyTorch Transformers.",
    no_args_is_help=True,
    cls=CommandTable,
    **TYPER_SETTINGS,
)

class LazyConsole:
    """A rich ``Console`` created on first use: importing rich costs ``validate`` ~25 ms of its start-up
    budget, and a command that succeeds quietly (``validate`` prints its ``ok`` lines with click) never
    needs it. Every attribute read or set goes to the real console."""

    __slots__ = ("_kwargs", "_real")

    def __init__(self, **kwargs: Any) -> None:
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_real", None)

    def get(self) -> Any:
        """The real ``rich.console.Console`` (created now if it was not yet); pass it where rich wants a
        console object (``Progress(console=out.get())``)."""
        if self._real is None:
            from rich.console import Console

            object.__setattr__(self, "_real", Console(**self._kwargs))
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.get(), name, value)


out = LazyConsole(highlight=False, soft_wrap=False)
# soft_wrap: an error line (a path, file:line:col) is never broken by us; the terminal wraps it, so it
# stays copyable and greppable whatever the terminal width or the length of the path.
err = LazyConsole(stderr=True, highlight=False, soft_wrap=True)

EXIT_INVALID = 1


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("blockforge")
        except PackageNotFoundError:  # running from a source tree that was never installed
            v = "unknown (not installed)"
        out.print(f"blockforge {v}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    ctx: typer.Context,
    no_plugins: Annotated[
        bool, typer.Option("--no-plugins", help="Load only the built-in components (no third-party plugins).")
    ] = False,
    disable_plugin: Annotated[
        Optional[list[str]],  # noqa: UP007 - typer reads Optional
        typer.Option("--disable-plugin", metavar="NAME", help="Skip this plugin (repeatable)."),
    ] = None,
    strict_plugins: Annotated[
        bool, typer.Option("--strict-plugins", help="Fail if any plugin fails to load (default: warn, skip it).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version,
                           help="Print blockforge's version and exit.")
    ] = False,
) -> None:
    """Compile declarative model specs (YAML/JSON) into runnable PyTorch Transformers."""
    disable = frozenset([*(disable_plugin or []), *(["all"] if no_plugins else [])])
    state = CliContext(PluginOptions(disable, True if strict_plugins else None))
    ctx.obj = state
    if state.plugin_options.resolved().strict:  # load now, so a broken plugin stops every command
        from blockforge.errors import PluginError

        try:
            state.plugins  # noqa: B018 - loads the plugins
        except PluginError as exc:
            err.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
            err.print("  = help: fix or uninstall the plugin, or skip it with --disable-plugin NAME")
            raise typer.Exit(EXIT_INVALID) from None


class Format(StrEnum):
    """Every output format of every command; each command accepts the subset :func:`format_option` names."""

    text = "text"
    json = "json"
    markdown = "markdown"
    yaml = "yaml"


def format_option(*choices: Format) -> Any:
    """The ``--format/-f`` option of a command that writes ``choices`` (the first is the usual default).

    Args:
        choices: the formats the command can write.

    Returns:
        An ``Annotated[Format, typer.Option(...)]`` for the command's signature; any other value is a
        usage error listing ``choices``.
    """
    names = [c.value for c in choices]

    def parse(value: str) -> Format:
        if str(value) in names:
            return Format(str(value))
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, names))}")

    return Annotated[Format, typer.Option("--format", "-f", parser=parse, metavar=f"[{'|'.join(names)}]",
                                          help="Output format.")]


SpecArg = Annotated[
    Optional[Path],  # noqa: UP007 - typer reads Optional
    typer.Argument(
        help="Spec file (YAML or JSON). Default: the packaged seed Transformer.",
        show_default=False,
        dir_okay=False,
    ),
]
FormatOpt = format_option(Format.text, Format.json)
"""``--format text|json``: what most commands write."""
SetOpt = Annotated[
    Optional[list[str]],  # noqa: UP007 - typer reads Optional
    typer.Option(
        "--set",
        "-s",
        help="Override a value: KEY.PATH=VALUE, typed as YAML (repeatable), e.g. --set model.n_layers=12.",
        show_default=False,
    ),
]


@contextmanager
def user_errors(fmt: Format = Format.text) -> Iterator[None]:
    """Turn blockforge's own errors into a rendered message and exit code 1, never a traceback."""
    try:
        yield
    except SpecError as exc:
        from blockforge.diagnostics import issues_json, print_issues

        if fmt == Format.json:
            out.print_json(issues_json(exc.issues))
        else:
            print_issues(exc.issues, err)
        raise typer.Exit(EXIT_INVALID) from None
    except BlockforgeError as exc:
        if fmt == Format.json:
            import json

            out.print_json(json.dumps({"ok": False, "errors": [{"message": str(exc)}]}))
        else:
            err.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None

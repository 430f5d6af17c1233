"""The typer application object and what every command shares: options, consoles, error handling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from blockforge.errors import BlockforgeError, SpecError

app = typer.Typer(
    name="blockforge",
    help="Compile declarative model specs (YAML/JSON) into runnable PyTorch Transformers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

out = Console(highlight=False, soft_wrap=False)
# soft_wrap: an error line (a path, file:line:col) is never broken by us; the terminal wraps it, so it
# stays copyable and greppable whatever the terminal width or the length of the path.
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_INVALID = 1


@app.callback()
def _global_options(
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
) -> None:
    """Compile declarative model specs (YAML/JSON) into runnable PyTorch Transformers."""
    from blockforge.cli.plugins import apply_plugin_options

    apply_plugin_options(no_plugins=no_plugins, disable=disable_plugin or [], strict=strict_plugins)


class Format(StrEnum):
    text = "text"
    json = "json"


SpecArg = Annotated[
    Optional[Path],  # noqa: UP007 - typer reads Optional
    typer.Argument(
        help="Spec file (YAML or JSON). Default: the packaged seed Transformer.",
        show_default=False,
        dir_okay=False,
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
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

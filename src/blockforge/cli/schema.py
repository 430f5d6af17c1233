"""``blockforge schema``: the JSON Schema of specs for every installed component. Torch-free."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import out, user_errors
from blockforge.cli.context import CliContext


def schema(
    ctx: typer.Context,
    output: Annotated[
        Optional[Path],  # noqa: UP007
        typer.Option("--output", "-o", help="Write the schema here (atomically) instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Print the JSON Schema of specs (plugins included), for editors:
    `# yaml-language-server: $schema=blockforge.schema.json`."""
    with user_errors():
        from blockforge._io import check_writable, write_text_atomic
        from blockforge.spec.schema import spec_schema

        if output is not None:
            check_writable(output)
        text = json.dumps(spec_schema(CliContext.of(ctx).registries), indent=2) + "\n"
        if output is None:
            out.file.write(text)
            return
        write_text_atomic(output, text)
    out.print(f"wrote {output}")

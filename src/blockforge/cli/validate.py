"""``blockforge validate``: check specs without importing torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import EXIT_INVALID, Format, FormatOpt, SetOpt, err, out
from blockforge.cli.context import CliContext


def validate(
    ctx: typer.Context,
    specs: Annotated[
        Optional[list[Path]],  # noqa: UP007
        typer.Argument(help="Spec files to check. Default: the packaged seed Transformer.", show_default=False),
    ] = None,
    fmt: FormatOpt = Format.text,
    overrides: SetOpt = None,
) -> None:
    """Validate specs: every problem, located, in one report. Never imports torch."""
    from blockforge.errors import SpecError
    from blockforge.spec import load_spec, spec_hash

    registries = CliContext.of(ctx).registries
    results: list[dict[str, object]] = []
    failed = False
    for spec in specs or [None]:
        label = str(spec) if spec is not None else "<default seed spec>"
        try:
            validated = load_spec(spec, registries=registries, overrides=overrides or ())
        except SpecError as exc:
            failed = True
            results.append({"spec": label, "ok": False, "errors": [i.to_dict() for i in exc.issues]})
            if fmt == Format.text:
                from blockforge.diagnostics import print_issues

                print_issues(exc.issues, err)
            continue
        h = spec_hash(validated)
        results.append({"spec": label, "ok": True, "name": validated.name, "hash": h})
        if fmt == Format.text:  # click, not rich: a run with no errors never imports rich
            typer.echo(f"{typer.style('ok', fg='green')} {label}: {validated.name or '(unnamed)'} "
                       f"{typer.style(f'(hash {h[:12]})', dim=True)}")
    if fmt == Format.json:
        out.print_json(json.dumps({"ok": not failed, "specs": results}))
    if failed:
        raise typer.Exit(EXIT_INVALID)

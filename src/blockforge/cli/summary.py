"""``blockforge summary``: the module tree, shapes and parameter totals, built on the meta device."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from blockforge.cli._app import Format, FormatOpt, SetOpt, SpecArg, app, out, user_errors


@app.command()
def summary(
    spec: SpecArg = None,
    depth: Annotated[int, typer.Option(min=0, help="Deepest module level shown.")] = 3,
    batch: Annotated[int, typer.Option(min=1, help="Batch size of the shape probe.")] = 1,
    seq_len: Annotated[Optional[int], typer.Option(min=1, help="Sequence length of the probe (default: max_len).")] = None,  # noqa: UP007
    fmt: FormatOpt = Format.text,
    overrides: SetOpt = None,
) -> None:
    """Summarise a spec without allocating weights: module tree, output shapes, parameters, bytes."""
    with user_errors(fmt):
        from blockforge.spec import load_spec

        validated = load_spec(spec, overrides=overrides or ())
        from blockforge.errors import BlockforgeError
        from blockforge.inspect import summarize

        try:
            s = summarize(validated, batch=batch, seq_len=seq_len)
        except ValueError as exc:
            raise BlockforgeError(str(exc)) from None
    if fmt == Format.json:
        data = s.to_dict()
        data["modules"] = [r for r in data["modules"] if r["depth"] <= depth]
        out.print_json(json.dumps(data))
        return
    from blockforge.render import summary_table, totals_table

    out.print(summary_table(s, depth=depth))
    out.print(totals_table(s))

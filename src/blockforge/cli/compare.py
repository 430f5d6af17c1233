"""``blockforge compare``: several specs side by side at one batch and sequence length."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from blockforge.cli._app import Format, SetOpt, out, user_errors
from blockforge.cli.context import CliContext
from blockforge.cli.summary import BatchOpt, SeqLenOpt, SummaryFormatOpt, _error_format


def compare(
    ctx: typer.Context,
    specs: Annotated[list[Path], typer.Argument(help="Two or more spec files.", dir_okay=False,
                                                show_default=False)],
    batch: BatchOpt = 1,
    seq_len: SeqLenOpt = None,
    fmt: SummaryFormatOpt = Format.text,
    overrides: SetOpt = None,
) -> None:
    """Compare specs: parameters, FLOPs per token, KV cache per token, training memory.

    All specs are probed at the same batch and sequence length (default: the shortest max_len).
    Each --set applies to every spec; to compare a spec with a variant of itself, use
    `blockforge diff A A --set-b ...`.
    """
    if len(specs) < 2:
        raise typer.BadParameter("give at least two specs to compare", param_hint="SPECS")
    with user_errors(_error_format(fmt)):
        from blockforge.cli.summary import summarize_spec
        from blockforge.spec import load_spec

        registries = CliContext.of(ctx).registries
        validated = [load_spec(p, registries=registries, overrides=overrides or ()) for p in specs]
        if seq_len is None:
            seq_len = min(v.model.max_len for v in validated)
        summaries = [summarize_spec(v, registries=registries, batch=batch, seq_len=seq_len, label=str(p))
                     for p, v in zip(specs, validated, strict=True)]
    if fmt == Format.json:
        out.print_json(json.dumps({
            "input_shape": [batch, seq_len],
            "models": [
                {"spec": str(p), **{k: v for k, v in s.to_dict().items() if k != "modules"}}
                for p, s in zip(specs, summaries, strict=True)
            ],
        }))
        return
    from blockforge.render import compare_markdown, compare_table

    if fmt == Format.markdown:
        out.print(compare_markdown(summaries), markup=False, highlight=False, soft_wrap=True)
    else:
        out.print(compare_table(summaries))

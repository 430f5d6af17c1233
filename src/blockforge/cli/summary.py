"""``blockforge summary``: module tree, shapes, parameters, FLOPs and memory, built on the meta device."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Optional

import typer

from blockforge.cli._app import Format, SetOpt, SpecArg, format_option, out, user_errors
from blockforge.cli.context import CliContext


class View(StrEnum):
    table = "table"
    tree = "tree"


SummaryFormatOpt = format_option(Format.text, Format.json, Format.markdown)
"""``--format text|json|markdown``: what the commands that summarise models write."""
BatchOpt = Annotated[int, typer.Option(min=1, help="Batch size of the probe (activations, FLOPs).")]
SeqLenOpt = Annotated[
    Optional[int],  # noqa: UP007 - typer reads Optional
    typer.Option(min=1, help="Sequence length of the probe (default: the model's max_len)."),
]


def _error_format(fmt: Format) -> Format:
    return Format.json if fmt == Format.json else Format.text


def summarize_spec(spec, *, registries, batch: int, seq_len: int | None,  # noqa: ANN001, ANN201
                   label: str | None = None, overrides: list[str] | tuple[str, ...] = ()):
    """Load, validate and summarise one spec, turning a bad probe size into a user error."""
    from blockforge.errors import BlockforgeError
    from blockforge.inspect import summarize
    from blockforge.spec import load_spec

    validated = load_spec(spec, registries=registries, overrides=overrides)
    try:
        return summarize(validated, batch=batch, seq_len=seq_len, registries=registries)
    except ValueError as exc:
        raise BlockforgeError(f"{label or spec or 'default spec'}: {exc}") from None


def summary(
    ctx: typer.Context,
    spec: SpecArg = None,
    depth: Annotated[int, typer.Option(min=0, help="Deepest module level shown.")] = 3,
    batch: BatchOpt = 1,
    seq_len: SeqLenOpt = None,
    view: Annotated[View, typer.Option(help="Module tree as a table or a tree (text format).")] = View.table,
    fmt: SummaryFormatOpt = Format.text,
    overrides: SetOpt = None,
) -> None:
    """Summarise a spec without allocating weights: module tree, output shapes, parameters, FLOPs
    (forward and forward + backward), KV cache per token and the training memory footprint."""
    with user_errors(_error_format(fmt)):
        s = summarize_spec(spec, registries=CliContext.of(ctx).registries, batch=batch, seq_len=seq_len, overrides=overrides or ())
    if fmt == Format.json:
        data = s.to_dict()
        data["modules"] = [r for r in data["modules"] if r["depth"] <= depth]
        out.print_json(json.dumps(data))
        return
    if fmt == Format.markdown:
        from blockforge.render import summary_markdown

        out.print(summary_markdown(s, depth=depth), markup=False, highlight=False, soft_wrap=True)
        for note in s.notes:
            out.print(f"\n> **Note:** {note}", markup=False, highlight=False, soft_wrap=True)
        return
    from rich.markup import escape

    from blockforge.render import summary_renderable

    out.print(summary_renderable(s, depth=depth, view=view.value))
    for note in s.notes:  # e.g. a language model that is not causal (and so has no KV cache line)
        out.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)

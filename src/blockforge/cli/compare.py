"""``blockforge compare``: several specs side by side at one batch and sequence length."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import Format, SetOpt, out, user_errors
from blockforge.cli.context import CliContext
from blockforge.cli.summary import BatchOpt, SeqLenOpt, SummaryFormatOpt, _error_format


def _sweep(values: list[str]) -> list[tuple[str, ...]]:
    """``["model.n_layers=4,8,12"]`` -> one override tuple per value (several sweeps: every combination)."""
    import itertools

    axes = []
    for item in values:
        key, eq, rest = item.partition("=")
        if not eq or not key.strip() or not rest.strip():
            raise typer.BadParameter(f"{item!r}: write KEY.PATH=V1,V2,... e.g. model.n_layers=4,8,12",
                                     param_hint="--sweep")
        axes.append([f"{key.strip()}={v.strip()}" for v in rest.split(",") if v.strip()])
    return [tuple(c) for c in itertools.product(*axes)] if axes else [()]


def column_labels(names: list[str | None], paths: list[str], sweeps: list[tuple[str, ...]]) -> list[str]:
    """Column headings: the specs' names; the file where two specs share a name; the swept values."""
    base = [n or "model" for n in names]
    if len(set(base)) < len(base):  # a clash: name the files (their stems, or whole paths if those clash)
        stems = [Path(p).stem for p in paths]
        files = stems if len(set(zip(stems, sweeps, strict=True))) == len(stems) else paths
        base = [f"{n} ({f})" if n != f else f for n, f in zip(base, files, strict=True)]
    return [f"{b} [{', '.join(o.rsplit('.', 1)[-1] for o in sw)}]" if sw else b for b, sw in zip(base, sweeps, strict=True)]


def compare(
    ctx: typer.Context,
    specs: Annotated[list[Path], typer.Argument(help="Spec files (two or more, or one with --sweep).",
                                                dir_okay=False, show_default=False)],
    batch: BatchOpt = 1,
    seq_len: SeqLenOpt = None,
    fmt: SummaryFormatOpt = Format.text,
    overrides: SetOpt = None,
    sweep: Annotated[
        Optional[list[str]],  # noqa: UP007 - typer reads Optional
        typer.Option("--sweep", metavar="KEY.PATH=V1,V2,...", show_default=False,
                     help="One column per value for each spec, e.g. --sweep model.n_layers=4,8,12 "
                          "(repeatable: every combination)."),
    ] = None,
) -> None:
    """Compare specs: parameters, FLOPs per token, KV cache per token, training memory.

    All specs are probed at the same batch and sequence length (default: the shortest max_len).
    Each --set applies to every spec; --sweep makes one column per value (a spec compared with variants
    of itself: `blockforge compare specs/tiny.yaml --sweep model.n_layers=2,4,8`). Columns are headed by
    the specs' names, by their files where names clash, and by the swept values.
    """
    variants = _sweep(sweep or [])
    if len(specs) * len(variants) < 2:
        raise typer.BadParameter("give at least two specs to compare, or one with --sweep KEY=V1,V2",
                                 param_hint="SPECS")
    with user_errors(_error_format(fmt)):
        from blockforge.cli.summary import summarize_spec
        from blockforge.spec import load_spec

        registries = CliContext.of(ctx).registries
        runs = [(p, v) for p in specs for v in variants]
        validated = [load_spec(p, registries=registries, overrides=[*(overrides or ()), *v]) for p, v in runs]
        if seq_len is None:
            seq_len = min(v.model.max_len for v in validated)
        summaries = [summarize_spec(v, registries=registries, batch=batch, seq_len=seq_len, label=str(p))
                     for (p, _), v in zip(runs, validated, strict=True)]
    labels = column_labels([s.name for s in summaries], [str(p) for p, _ in runs], [v for _, v in runs])
    if fmt == Format.json:
        out.print_json(json.dumps({
            "input_shape": [batch, seq_len],
            "models": [
                {"spec": str(p), "label": label, "overrides": list(v),
                 **{k: x for k, x in s.to_dict().items() if k != "modules"}}
                for (p, v), s, label in zip(runs, summaries, labels, strict=True)
            ],
        }))
        return
    from blockforge.render import compare_markdown, compare_table

    if fmt == Format.markdown:
        out.print(compare_markdown(summaries, labels), markup=False, highlight=False, soft_wrap=True)
    else:
        out.print(compare_table(summaries, labels))

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
MAX_BATCH = 1 << 20
"""The largest probe batch: a summary runs on meta, but its figures (bytes, FLOPs) must stay int64."""
BatchOpt = Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Batch size of the probe (activations, FLOPs).")]
SeqLenOpt = Annotated[
    Optional[int],  # noqa: UP007 - typer reads Optional
    typer.Option(min=1, help="Sequence length of the probe (default: the model's max_len)."),
]


#: Names ``--dtype`` accepts -> torch dtype name.
DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "float": "float32", "bfloat16": "bfloat16",
               "bf16": "bfloat16", "float16": "float16", "fp16": "float16", "half": "float16",
               "float64": "float64", "fp64": "float64", "double": "float64"}


def _dtype(value: str) -> str:
    if str(value).lower() in DTYPE_NAMES:
        return DTYPE_NAMES[str(value).lower()]
    raise typer.BadParameter(f"{value!r} is not a dtype; use float32, bfloat16 (bf16), float16 (fp16) or float64")


DtypeOpt = Annotated[str, typer.Option("--dtype", parser=_dtype, metavar="[float32|bfloat16|bf16|float16|float64]",
                                       help="Parameter dtype of the summarised model (bytes, memory).")]


def _check_parallel(value: str | None) -> str | None:
    from blockforge.inspect.parallel import parse_parallel

    if value is not None:
        try:
            parse_parallel(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


ParallelOpt = Annotated[
    Optional[str],  # noqa: UP007 - typer reads Optional
    typer.Option(metavar="STRATEGY:N", callback=_check_parallel,
                 help="Plan N data-parallel ranks: ddp:N or fsdp:N. Per-rank weights, gradients, optimizer "
                      "state, activations at --batch (one rank's micro-batch) and bytes sent per step."),
]


def _error_format(fmt: Format) -> Format:
    return Format.json if fmt == Format.json else Format.text


def summarize_spec(spec, **kwargs):  # noqa: ANN001, ANN003, ANN201
    """:func:`summarize_with_layers` without the layer keys: the summary alone."""
    return summarize_with_layers(spec, **kwargs)[0]


def summarize_with_layers(spec, *, registries, batch: int, seq_len: int | None,  # noqa: ANN001, ANN201
                   label: str | None = None, overrides: list[str] | tuple[str, ...] = (), dtype: str = "float32"):
    """Load, validate and summarise one spec (built on meta in ``dtype``), turning a bad probe size into a
    user error. Returns ``(summary, layer keys)`` (see :func:`blockforge.render.layer_keys`)."""
    from blockforge.errors import BlockforgeError
    from blockforge.inspect import summarize
    from blockforge.spec import load_spec

    validated = load_spec(spec, registries=registries, overrides=overrides)
    try:
        if dtype == "float32":
            summary = summarize(validated, batch=batch, seq_len=seq_len, registries=registries)
        else:
            import torch

            from blockforge.build import build_model

            model = build_model(validated, device="meta", registries=registries, dtype=getattr(torch, dtype))
            summary = summarize(model, batch=batch, seq_len=seq_len)
        from blockforge.render import layer_keys

        return summary, layer_keys(summary, validated.plan)
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
    expand: Annotated[bool, typer.Option("--expand", help="Show every layer (identical layers are one row "
                                                          "`blocks.0–31 × 32` by default).")] = False,
    dtype: DtypeOpt = "float32",
    overrides: SetOpt = None,
    parallel: ParallelOpt = None,
) -> None:
    """Summarise a spec without allocating weights: module tree, output shapes, parameters, FLOPs
    (forward and forward + backward), KV cache per token and the training memory footprint; with
    --parallel, each rank's memory and traffic (docs/distributed.md)."""
    registries = CliContext.of(ctx).registries
    with user_errors(_error_format(fmt)):
        s, keys = summarize_with_layers(spec, registries=registries, batch=batch, seq_len=seq_len,
                                        overrides=overrides or (), dtype=dtype)
        plan = _parallel_plan(spec, s, parallel, registries, overrides or ()) if parallel else None
    if fmt == Format.json:
        data = s.to_dict()
        data["modules"] = [r for r in data["modules"] if r["depth"] <= depth]
        if plan is not None:
            data["parallel"] = plan.to_dict()
        out.print_json(json.dumps(data))
        return
    if fmt == Format.markdown:
        from blockforge.render import parallel_markdown, summary_markdown

        text = summary_markdown(s, depth=depth, expand=expand, keys=keys) + (
            "\n" + parallel_markdown(plan) if plan is not None else "")
        out.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    from blockforge.render import parallel_renderable, summary_renderable

    out.print(summary_renderable(s, depth=depth, view=view.value, expand=expand, keys=keys))
    if plan is not None:
        out.print(parallel_renderable(plan))


def _parallel_plan(spec, s, parallel: str, registries, overrides):  # noqa: ANN001, ANN202
    """The per-rank plan of ``--parallel``: the spec's ``parallel:`` options when its strategy matches; with a
    ``training:`` section, its micro-batch, sequence length, accumulation and activation checkpointing
    (the global batch split over the N ranks; one that does not divide is a located error)."""
    from blockforge.inspect import summarize
    from blockforge.inspect.parallel import parse_parallel, plan_parallel
    from blockforge.spec import load_document, load_spec
    from blockforge.spec.parallel import rank_batches

    strategy, n = parse_parallel(parallel)
    validated = load_spec(spec, registries=registries, overrides=overrides)
    section = getattr(validated, "parallel", None)
    options: dict = {}
    if section is not None and section.strategy == strategy == "fsdp":
        options["reshard_after_forward"] = section.reshard_after_forward
        if section.mixed_precision is not None:
            options["param_dtype"] = section.mixed_precision.param_dtype
            options["reduce_dtype"] = section.mixed_precision.reduce_dtype
    training = getattr(validated, "training", None)
    if training is not None:
        doc = load_document(spec, overrides=overrides)
        split = rank_batches(global_batch=training.batch_size, world_size=n,
                             micro_batch=training.micro_batch_size, locate=doc.locate)
        seq_len = training.seq_len or s.input_shape[1]
        if [split.micro_batch, seq_len] != list(s.input_shape):
            s = summarize(validated, batch=split.micro_batch, seq_len=seq_len, registries=registries)
        options["accumulation"] = split.accumulation
        options["activation_checkpointing"] = training.activation_checkpointing
    return plan_parallel(s, strategy=strategy, world_size=n, **options)

"""``blockforge plan``: the fully resolved block of every layer, and where each came from. Torch-free."""

from __future__ import annotations

import json
from typing import Any

import typer

from blockforge.cli._app import Format, FormatOpt, SetOpt, SpecArg, out, user_errors
from blockforge.cli.context import CliContext


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _changes(base: dict[str, Any], layer: dict[str, Any]) -> list[str]:
    """``key=value`` for every leaf of ``layer`` that differs from ``base`` (dotted keys)."""
    fb, fl = _flat(base), _flat(layer)
    changed = [f"{k}={json.dumps(v)}" for k, v in fl.items() if k not in fb or fb[k] != v]
    changed += [f"-{k}" for k in fb if k not in fl]
    return changed


def plan_rows(validated: Any) -> list[dict[str, Any]]:
    """One row per layer of each stack of the spec's model: stack, index, sources merged, changes from
    the base block, and the resolved block."""
    from blockforge.errors import format_path

    rows = []
    for stack in validated.plan:
        base = getattr(validated.model, stack.block_field).model_dump(mode="json")
        for layer in stack.layers:
            dump = layer.params
            rows.append({"stack": stack.name, "layer": layer.index,
                         "from": [stack.block_field, *(format_path(s) for s in layer.steps)],
                         "changes": _changes(base, dump), "block": dump})
    return rows


def plan(ctx: typer.Context, spec: SpecArg = None, fmt: FormatOpt = Format.text, overrides: SetOpt = None) -> None:
    """Show the per-layer plan: every layer's resolved block, what was merged into it and what changed."""
    with user_errors(fmt):
        from blockforge.spec import load_spec

        validated = load_spec(spec, registries=CliContext.of(ctx).registries, overrides=overrides or ())
        rows = plan_rows(validated)
    if fmt == Format.json:
        out.print_json(json.dumps({"layers": rows}))
        return
    from rich.table import Table

    table = Table(title=f"{validated.name or 'model'}: {len(rows)} layers", title_justify="left")
    several = len({r["stack"] for r in rows}) > 1
    if several:
        table.add_column("stack")
    table.add_column("layer", justify="right", style="bold cyan")
    table.add_column("block", style="bold")
    table.add_column("merged from")
    table.add_column("differs from the base block")
    for r in rows:
        cells = [str(r["layer"]), r["block"].get("type", "?"), " + ".join(r["from"]), ", ".join(r["changes"]) or "-"]
        table.add_row(*([r["stack"]] if several else []), *cells)
    out.print(table)

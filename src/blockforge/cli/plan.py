"""``blockforge plan``: the fully resolved block of every layer, and where each came from. Torch-free."""

from __future__ import annotations

import json
from typing import Any

import typer

from blockforge.cli._app import Format, FormatOpt, SetOpt, SpecArg, out, user_errors
from blockforge.cli.context import CliContext


def _changes(base: dict[str, Any], layer: dict[str, Any], prefix: str = "") -> list[str]:
    """What ``layer`` changes from ``base``: ``key=value`` per differing leaf (dotted keys), ``-key`` for a
    removed one, and one ``key: old -> new`` for a component replaced by another (``attention: mha ->
    lstm``), not one entry per parameter of each."""
    changed: list[str] = []
    for k in [*layer, *(k for k in base if k not in layer)]:
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in base:
            changed.append(f"{key}={json.dumps(layer[k])}")
        elif k not in layer:
            changed.append(f"-{key}")
        elif isinstance(base[k], dict) and isinstance(layer[k], dict):
            a, b = base[k], layer[k]
            if "type" in a and "type" in b and a["type"] != b["type"]:
                changed.append(f"{key}: {a['type']} -> {b['type']}")
            else:
                changed.extend(_changes(a, b, key))
        elif base[k] != layer[k]:
            changed.append(f"{key}={json.dumps(layer[k])}")
    return changed


def mixer(block: dict[str, Any]) -> str:
    """The component name of a resolved block's sequence mixer (its ``attention`` slot), or ``-``."""
    value = block.get("attention")
    return str(value.get("type", "-")) if isinstance(value, dict) else "-"


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
    from rich.markup import escape
    from rich.table import Table

    from blockforge.figure import layers_text

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}  # layers that resolve alike: one row
    for r in rows:
        key = (r["stack"], r["block"].get("type", "?"), mixer(r["block"]), tuple(r["from"]), tuple(r["changes"]))
        groups.setdefault(key, []).append(r)
    table = Table(title=f"{validated.name or 'model'}: {len(rows)} layers", title_justify="left")
    several = len({r["stack"] for r in rows}) > 1
    if several:
        table.add_column("stack")
    table.add_column("layers", justify="right", style="bold cyan")
    table.add_column("block", style="bold")
    table.add_column("mixer", style="bold")
    table.add_column("merged from")
    table.add_column("differs from the base block")
    for (stack, block, mix, sources, changes), members in groups.items():
        cells = [layers_text([m["layer"] for m in members]), block, mix, " + ".join(sources),
                 escape(", ".join(changes)) or "-"]
        table.add_row(*([stack] if several else []), *cells)
    out.print(table)

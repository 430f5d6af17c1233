"""``blockforge diff``: what differs between two resolved specs, and the parameter-count change."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from blockforge.cli._app import Format, FormatOpt, SetOpt, out, user_errors
from blockforge.cli.context import CliContext


def spec_diff(a: Any, b: Any, path: str = "") -> list[dict[str, Any]]:
    """Differences between two resolved specs, as ``{path, a, b}`` rows (a missing side is absent).

    Mappings and lists are compared entry by entry; an entry present on one side only is reported once,
    as a whole subtree (a layer added by ``n_layers=12`` is one row, not one row per field), and so is a
    component replaced by another (``{type: mha, ...}`` -> ``{type: lstm, ...}``).

    Args:
        a: The first resolved spec (or a subtree of it).
        b: The second resolved spec (or a subtree of it).
        path: The dotted path of ``a`` and ``b`` in the spec ("" at the root).

    Returns:
        One row per differing leaf or one-sided subtree, in the order of ``a`` then of ``b``.
    """
    if isinstance(a, dict) and isinstance(b, dict) and "type" in a and "type" in b and a["type"] != b["type"]:
        return [{"path": path, "a": a, "b": b}]  # another component: one row, not one per parameter
    if isinstance(a, dict) and isinstance(b, dict):
        rows: list[dict[str, Any]] = []
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                rows.append({"path": sub, "a": a[key]})
            elif key not in a:
                rows.append({"path": sub, "b": b[key]})
            else:
                rows.extend(spec_diff(a[key], b[key], sub))
        return rows
    if isinstance(a, list) and isinstance(b, list):
        rows = []
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(b):
                rows.append({"path": sub, "a": a[i]})
            elif i >= len(a):
                rows.append({"path": sub, "b": b[i]})
            else:
                rows.extend(spec_diff(a[i], b[i], sub))
        return rows
    return [] if a == b else [{"path": path, "a": a, "b": b}]


_LAYER_ROW = re.compile(r"^(?P<head>.*\.layers)\[(?P<i>\d+)\](?P<tail>.*)$")


def grouped_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge rows that differ the same way in several layers: ``layers[0:6].attention.heads``.

    Layer ranges are written as the spec's own layer selectors (``start:stop`` or ``start:stop:step``).

    Args:
        rows: Rows from :func:`spec_diff`.

    Returns:
        The rows for the text view, in their first occurrence order; a merged row's path names the
        layer range.
    """
    groups: dict[tuple[str, str, str, str], list[int]] = {}
    order: list[tuple[str, str, str, str] | int] = []
    for n, row in enumerate(rows):
        match = _LAYER_ROW.match(row["path"])
        if match is None:
            order.append(n)
            continue
        key = (match["head"], match["tail"], json.dumps(row.get("a", ...), default=str),
               json.dumps(row.get("b", ...), default=str))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(n)
    merged: list[dict[str, Any]] = []
    for item in order:
        if isinstance(item, int):
            merged.append(rows[item])
            continue
        head, tail = item[0], item[1]
        indices = [int(_LAYER_ROW.match(rows[n]["path"])["i"]) for n in groups[item]]  # type: ignore[index]
        first = rows[groups[item][0]]
        labels = [f"{start}" if stop == start + 1 else f"{start}:{stop}" if step == 1 else f"{start}:{stop}:{step}"
                  for start, stop, step in _runs(indices)]
        merged.append({**first, "path": f"{head}[{','.join(labels)}]{tail}"})  # every such layer: one row
    return merged


def _runs(indices: list[int]) -> list[tuple[int, int, int]]:
    """Sorted layer indices as ``(start, stop, step)`` slices: [0, 1, 2, 5] -> [(0, 3, 1), (5, 6, 1)].

    A run with a step other than 1 needs at least three members; shorter ones stay single indices.
    """
    runs: list[list[int]] = []
    for i in indices:
        run = runs[-1] if runs else None
        if run is not None and (len(run) == 1 or i - run[-1] == run[-1] - run[-2]):
            run.append(i)
        else:
            runs.append([i])
    slices: list[tuple[int, int, int]] = []
    for run in runs:
        step = run[1] - run[0] if len(run) > 1 else 1
        if step != 1 and len(run) < 3:
            slices.extend((i, i + 1, 1) for i in run)
        else:
            slices.append((run[0], run[-1] + 1, step))
    return slices


def _shown(row: dict[str, Any], side: str, width: int = 60) -> str:
    """One side of a row for the text view: compact JSON, a long subtree cut at ``width`` characters; a
    component as ``name {its parameters}``."""
    if side not in row:
        return "(absent)"
    value = row[side]
    if isinstance(value, dict) and isinstance(value.get("type"), str) and "a" in row and "b" in row:
        rest = {k: v for k, v in value.items() if k != "type" and v is not None}
        text = f"{value['type']} {json.dumps(rest, separators=(', ', ': '))}" if rest else value["type"]
        return text if len(text) <= width else text[: width - 1] + "…"
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"


def _params(validated: Any, registries: Any) -> int:
    from blockforge.inspect import summarize

    return int(summarize(validated, registries=registries).total_params)


def diff(
    ctx: typer.Context,
    a: Annotated[Path, typer.Argument(help="First spec.", dir_okay=False)],
    b: Annotated[Path, typer.Argument(help="Second spec.", dir_okay=False)],
    fmt: FormatOpt = Format.text,
    params: Annotated[bool, typer.Option("--params/--no-params", help="Count parameters (meta device).")] = True,
    overrides: SetOpt = None,
    overrides_a: Annotated[
        Optional[list[str]],  # noqa: UP007 - typer reads Optional
        typer.Option("--set-a", help="Override a value in A only (repeatable; applied after --set).",
                     show_default=False),
    ] = None,
    overrides_b: Annotated[
        Optional[list[str]],  # noqa: UP007 - typer reads Optional
        typer.Option("--set-b", help="Override a value in B only (repeatable; applied after --set).",
                     show_default=False),
    ] = None,
) -> None:
    """Show what differs between the resolved specs A and B (layer by layer) and the parameter change.

    A and B may be the same file: `blockforge diff seed.yaml seed.yaml --set-b model.n_layers=12`
    shows what one override changes.
    """
    with user_errors(fmt):
        from blockforge.spec import load_spec, spec_hash
        from blockforge.spec.canonical import identity

        registries = CliContext.of(ctx).registries
        common = list(overrides or ())
        sa = load_spec(a, registries=registries, overrides=[*common, *(overrides_a or ())])
        sb = load_spec(b, registries=registries, overrides=[*common, *(overrides_b or ())])
        rows = spec_diff(identity(sa), identity(sb))
        counts = (_params(sa, registries), _params(sb, registries)) if params else None
    data: dict[str, Any] = {"same_architecture": spec_hash(sa) == spec_hash(sb), "differences": rows}
    if counts is not None:
        data["params"] = {"a": counts[0], "b": counts[1], "change": counts[1] - counts[0]}
    if fmt == Format.json:
        out.print_json(json.dumps(data))
        return
    from rich.markup import escape

    if not data["differences"]:
        out.print("[green]no differences[/]")
    for r in grouped_rows(data["differences"]):
        left, right = _shown(r, "a"), _shown(r, "b")
        out.print(f"[bold]{escape(r['path'])}[/]: [red]{escape(left)}[/] -> [green]{escape(right)}[/]",
                  soft_wrap=True)
    if counts is not None:
        change = counts[1] - counts[0]
        pct = f" ({change / counts[0]:+.1%})" if counts[0] else ""
        out.print(f"parameters: {counts[0]:,} -> {counts[1]:,}: {change:+,}{pct}")

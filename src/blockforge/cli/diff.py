"""``blockforge diff``: what differs between two resolved specs, and the parameter-count change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from blockforge.cli._app import Format, FormatOpt, app, out, user_errors


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        items: dict[str, Any] = {}
        for k, v in value.items():
            items.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return items or {prefix: {}}
    if isinstance(value, list):
        items = {}
        for i, v in enumerate(value):
            items.update(_flat(v, f"{prefix}[{i}]"))
        return items or {prefix: []}
    return {prefix: value}


def spec_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Leaf-by-leaf differences: ``{path, a, b}`` (a missing side is absent from its dict)."""
    fa, fb = _flat(a), _flat(b)
    rows = []
    for key in [*fa, *(k for k in fb if k not in fa)]:
        if key in fa and key in fb and fa[key] == fb[key]:
            continue
        row: dict[str, Any] = {"path": key}
        if key in fa:
            row["a"] = fa[key]
        if key in fb:
            row["b"] = fb[key]
        rows.append(row)
    return rows


def _params(validated: Any) -> int:
    from blockforge.inspect import summarize

    return int(summarize(validated).total_params)


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(help="First spec.", dir_okay=False)],
    b: Annotated[Path, typer.Argument(help="Second spec.", dir_okay=False)],
    fmt: FormatOpt = Format.text,
    params: Annotated[bool, typer.Option("--params/--no-params", help="Count parameters (meta device).")] = True,
) -> None:
    """Show what differs between the resolved specs A and B (layer by layer) and the parameter change."""
    with user_errors(fmt):
        from blockforge.spec import load_spec, spec_hash
        from blockforge.spec.canonical import identity

        sa, sb = load_spec(a), load_spec(b)
        rows = spec_diff(identity(sa), identity(sb))
        names = [r for r in ({"path": k, "a": sa.name, "b": sb.name} for k in ["name"]) if r["a"] != r["b"]]
        counts = (_params(sa), _params(sb)) if params else None
    data: dict[str, Any] = {"same_architecture": spec_hash(sa) == spec_hash(sb), "differences": names + rows}
    if counts is not None:
        data["params"] = {"a": counts[0], "b": counts[1], "change": counts[1] - counts[0]}
    if fmt == Format.json:
        out.print_json(json.dumps(data))
        return
    from rich.markup import escape

    if not data["differences"]:
        out.print("[green]no differences[/]")
    for r in data["differences"]:
        left = json.dumps(r["a"]) if "a" in r else "(absent)"
        right = json.dumps(r["b"]) if "b" in r else "(absent)"
        out.print(f"[bold]{escape(r['path'])}[/]: [red]{escape(left)}[/] -> [green]{escape(right)}[/]")
    if counts is not None:
        change = counts[1] - counts[0]
        pct = f" ({change / counts[0]:+.1%})" if counts[0] else ""
        out.print(f"parameters: {counts[0]:,} -> {counts[1]:,}: {change:+,}{pct}")

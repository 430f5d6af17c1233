"""``blockforge components``: what can be named in a spec, with parameters and defaults."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from blockforge.cli._app import EXIT_INVALID, Format, FormatOpt, err, out
from blockforge.cli.context import CliContext


def _type_name(info: Any) -> str:
    from blockforge.spec.binding import field_annotation, shape_of

    shape = shape_of(field_annotation(info))
    if shape.what == "slot" and shape.kind is not None:
        return f"{shape.kind.value} ref"
    ann = info.annotation
    text = getattr(ann, "__name__", None) or repr(ann)
    return text.replace("typing.", "").replace("NoneType", "None")


def param_rows(params: type[BaseModel]) -> list[dict[str, Any]]:
    """One row per parameter: name, type, default (or required), description."""
    from blockforge.spec.params import field_docs

    docs = field_docs(params)  # read from source; the registered class is left as it is
    rows = []
    for name, info in params.model_fields.items():
        required = info.default is PydanticUndefined and info.default_factory is None
        rows.append(
            {
                "name": name,
                "type": _type_name(info),
                "required": required,
                "default": None if required else info.get_default(call_default_factory=True),
                "description": info.description or docs.get(name, ""),
            }
        )
    return rows


def components(
    ctx: typer.Context,
    kind: Annotated[Optional[str], typer.Argument(help="Only this kind (attention, norm, ...).")] = None,  # noqa: UP007
    fmt: FormatOpt = Format.text,
    plugin: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option("--plugin", "-p", metavar="NAME", help="Only components owned by this plugin (e.g. builtins)."),
    ] = None,
) -> None:
    """List registered components by kind, with their owner plugin, parameters and defaults."""
    from rich.table import Table

    from blockforge.registry import Kind

    registries = CliContext.of(ctx).registries
    kinds = [k.value for k in Kind]
    if kind is not None and kind not in kinds:
        err.print(f"[bold red]error[/]: unknown kind {kind!r}; kinds are {', '.join(kinds)}")
        raise typer.Exit(EXIT_INVALID)
    selected = [kind] if kind else kinds
    data = {
        k: [
            {"name": c.name, "owner": c.owner, "description": c.description, "params": param_rows(c.params)}
            for c in registries[k]
            if plugin is None or c.owner == plugin
        ]
        for k in selected
    }
    if fmt == Format.json:
        out.print_json(json.dumps(data, default=str))
        return
    for k in selected:
        if plugin is not None and not data[k]:
            continue
        table = Table(title=f"{k}", title_justify="left", show_lines=False, expand=False)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("owner", style="dim")
        table.add_column("parameters")
        table.add_column("description")
        for c in data[k]:
            params = ", ".join(
                f"{p['name']}: {p['type']}" + ("" if p["required"] else f" = {p['default']!r}")
                for p in c["params"]
            )
            table.add_row(c["name"], c["owner"], params or "-", c["description"])
        out.print(table)

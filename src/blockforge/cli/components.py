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


def type_text(info: Any) -> str:
    """A parameter's type for people: ``'pre' | 'post' | 'sandwich'``, ``float > 0 or null``,
    ``norm component``, ``list of int``; constraints from ``Field(gt=..., le=...)`` included."""
    import types
    from typing import Annotated, Literal, Union, get_args, get_origin

    from blockforge.spec.slots import field_annotation, shape_of

    shape = shape_of(field_annotation(info))
    if shape.what == "slot" and shape.kind is not None:
        text = f"{shape.kind.value} component"
        return f"{text} or null" if _optional(info.annotation) else text

    def bounds(meta: Any) -> list[str]:
        out = []
        for m in meta:
            for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                v = getattr(m, attr, None)
                if v is not None:
                    out.append(f"{op} {v}")
            for inner in getattr(m, "metadata", []) or []:
                out += bounds([inner])
        return out

    def text(tp: Any) -> str:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *meta = get_args(tp)
            b = bounds(meta)
            return text(base) + (f" ({', '.join(b)})" if b else "")
        if origin is Literal:
            return " | ".join(repr(a) for a in get_args(tp))
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            inner = " or ".join(text(a) for a in args)
            return f"{inner} or null" if len(args) < len(get_args(tp)) else inner
        if origin in (list, tuple, set):
            args = [a for a in get_args(tp) if a is not Ellipsis]
            return f"list of {text(args[0])}" if args else "list"
        if origin is dict:
            return "mapping"
        return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")

    b = bounds(info.metadata)
    return text(info.annotation) + (f" ({', '.join(b)})" if b else "")


def _optional(tp: Any) -> bool:
    import types
    from typing import Union, get_args, get_origin

    return get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)


def _examples(params: type[BaseModel]) -> list[dict[str, Any]]:
    extra = params.model_config.get("json_schema_extra")
    found = extra.get("examples", []) if isinstance(extra, dict) else []
    return [e for e in found if isinstance(e, dict)]


def detail(comp: Any) -> dict[str, Any]:
    """Everything about one component: kind, owner, module, description, parameters with an example each."""
    examples = _examples(comp.params)
    rows = param_rows(comp.params)
    for row, info in zip(rows, comp.params.model_fields.values(), strict=True):
        row["type"] = type_text(info)
        row["example"] = next((e[row["name"]] for e in examples if row["name"] in e), None)
    return {
        "name": comp.name, "kind": comp.kind.value, "owner": comp.owner, "module": comp.params.__module__,
        "description": comp.description, "doc": (comp.params.__doc__ or "").strip(), "params": rows,
        "examples": [{"type": comp.name, **e} for e in examples],
    }


def _value(v: Any) -> str:
    """A value as a spec writes it: ``null``, ``true``, ``rmsnorm``, ``{type: mha, heads: 2}``."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _print_detail(d: dict[str, Any]) -> None:
    from rich.table import Table

    out.print(f"[bold cyan]{d['name']}[/] ({d['kind']}) — {d['doc'] or d['description']}")
    out.print(f"[dim]owner: {d['owner']} · module: {d['module']}[/]")
    if not d["params"]:
        out.print("no parameters")
    else:
        table = Table(show_lines=False, expand=False)
        table.add_column("parameter", style="bold", no_wrap=True)  # markup off: descriptions hold [ ]
        table.add_column("type")
        table.add_column("default")
        table.add_column("description")
        for p in d["params"]:
            default = "required" if p["required"] else _value(p["default"])
            desc = p["description"].replace("``", "") + (
                f" E.g. {_value(p['example'])}" if p["example"] is not None else "")
            table.add_row(p["name"], p["type"], default, desc, end_section=False)
        out.print(table)
    for e in d["examples"][:2]:
        out.print(f"example: {_value(e)}", markup=False, highlight=False)


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
    kind: Annotated[Optional[str], typer.Argument(  # noqa: UP007
        help="Only this kind (attention, norm, ...), or one component's name for its detail view.")] = None,
    name: Annotated[Optional[str], typer.Argument(  # noqa: UP007
        help="With KIND: the component to show in detail (`blockforge components attention mha`).")] = None,
    fmt: FormatOpt = Format.text,
    plugin: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option("--plugin", "-p", metavar="NAME", help="Only components owned by this plugin (e.g. builtins)."),
    ] = None,
) -> None:
    """List registered components by kind, with their owner plugin, parameters and defaults; or show
    one component in detail (`blockforge components mha`): each parameter's type, default, description
    and an example, its owner and module."""
    from rich.table import Table

    from blockforge.registry import Kind

    registries = CliContext.of(ctx).registries
    kinds = [k.value for k in Kind]
    if kind is not None and (kind not in kinds or name is not None):
        wanted = name if kind in kinds else kind
        matches = [c for k in ([kind] if kind in kinds else kinds) for c in registries[k] if c.name == wanted]
        if len(matches) == 1:
            d = detail(matches[0])
            if fmt == Format.json:
                out.print_json(json.dumps(d, default=str))
            else:
                _print_detail(d)
            return
        if len(matches) > 1:
            which = ", ".join(f"blockforge components {c.kind.value} {c.name}" for c in matches)
            err.print(f"[bold red]error[/]: {wanted!r} names components of several kinds; say which: {which}")
            raise typer.Exit(EXIT_INVALID)
        from blockforge.errors import suggest

        names = sorted({c.name for k in kinds for c in registries[k]})
        near = suggest(str(wanted), [*names, *kinds])
        hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
        err.print(f"[bold red]error[/]: unknown kind or component {wanted!r}{hint} (kinds: {', '.join(kinds)}; "
                  "`blockforge components` lists every component)")
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

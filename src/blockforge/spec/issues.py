"""Pydantic validation errors as located :class:`~blockforge.errors.SpecIssue` s. Torch-free."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from blockforge.errors import Location, SpecIssue, SpecPath, suggest
from blockforge.registry.registry import Registries
from blockforge.spec.binding import type_of
from blockforge.spec.loader import Document
from blockforge.spec.models import SpecFile, format_version_issue
from blockforge.spec.slots import Shape, field_annotation, shape_of


def _walk(
    loc: tuple[Any, ...], data: Any, registries: Registries, root: Any = SpecFile
) -> tuple[SpecPath, list[Shape], Any]:
    """Follow a pydantic error location through the unbound models and the raw data.

    Returns:
        The spec path (union tags removed), the shape at each step (``shapes[-1]`` is the shape at
        the error's position, ``shapes[-2]`` its parent's), and the raw value at the position.
    """
    tp: Any = root
    path: list[str | int] = []
    shapes = [tp if isinstance(tp, Shape) else shape_of(tp)]
    for elem in loc:
        shape = shapes[-1]
        if shape.what == "slot":
            name = type_of(data)
            if name is None and isinstance(data, dict) and shape.kind is not None and elem in registries[shape.kind]:
                name = str(elem)  # a mapping without `type` that patches the field's default component
            if elem == name and shape.kind is not None:
                reg = registries[shape.kind]
                tp = reg.get(name).params if name in reg else Any
                data = data if isinstance(data, dict) else {"type": name}
                shapes[-1] = shape_of(tp) if tp is not Any else Shape("other")
                shapes[-1] = Shape(shapes[-1].what, kind=shape.kind, model=shapes[-1].model)
                continue
            tp = Any
        elif shape.what == "model" and shape.model is not None:
            info = shape.model.model_fields.get(str(elem))
            tp = field_annotation(info) if info is not None else Any
        elif shape.what in ("list", "dict"):
            tp = shape.item
        else:
            tp = Any
        path.append(elem)
        if isinstance(data, dict):
            data = data.get(elem)
        elif isinstance(data, list) and isinstance(elem, int) and 0 <= elem < len(data):
            data = data[elem]
        else:
            data = None
        shapes.append(shape_of(tp) if tp is not Any else Shape("other"))
    return tuple(path), shapes, data


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _convert(
    err: Any,
    doc: Document,
    registries: Registries,
    *,
    data: Any = None,
    root: Any = SpecFile,
    where: Any = None,
) -> SpecIssue:
    """One pydantic error as a located issue.

    Args:
        err: the pydantic error dict.
        doc: the document (for locations).
        registries: for suggestions.
        data: the validated input (default: ``doc.data``).
        root: the type (or :class:`Shape`) ``data`` was validated as.
        where: maps a path in ``data`` to the document path it came from (default: identity).
    """
    etype: str = err["type"]
    path, shapes, raw = _walk(tuple(err["loc"]), doc.data if data is None else data, registries, root)
    locator = _Locator(doc, where)
    return _mapped(_convert_at(err, etype, path, shapes, raw, registries, locator), locator)


class _Locator:
    def __init__(self, doc: Document, where: Any) -> None:
        self.doc = doc
        self.where = where

    def path(self, p: SpecPath) -> SpecPath:
        return tuple(self.where(p)) if self.where is not None else tuple(p)

    def locate(self, p: SpecPath, *, key: bool = False) -> Location | None:
        return self.doc.locate(self.path(p), key=key)


def _convert_at(
    err: Any, etype: str, path: SpecPath, shapes: list[Shape], raw: Any, registries: Registries, loc: _Locator
) -> SpecIssue:
    doc = loc  # same locate() interface, with paths mapped to the document
    ctx = err.get("ctx") or {}
    here = shapes[-1]

    if etype == "extra_forbidden":
        parent = shapes[-2] if len(shapes) > 1 else Shape("other")
        allowed = sorted(parent.model.model_fields) if parent.model else []
        if parent.kind is not None:
            allowed = sorted({*allowed, "type"})
        key = str(path[-1])
        near = suggest(key, allowed)
        where = f" for {parent.kind} component" if parent.kind else ""
        hint = ("did you mean " + " or ".join(repr(n) for n in near) + "?") if near else (
            "valid keys: " + ", ".join(allowed) if allowed else None
        )
        return SpecIssue(path, f"unknown key {key!r}{where}", doc.locate(path, key=True), hint, "unknown_key")

    if etype in ("union_tag_invalid", "no_components") and here.kind is not None:
        name = str(ctx.get("tag", type_of(raw)))
        reg = registries[here.kind]
        near = suggest(name, reg.names())
        if near:
            hint = "did you mean " + " or ".join(repr(n) for n in near) + "?"
        elif len(reg):
            hint = f"registered {here.kind.value} components: " + ", ".join(reg.names()) + (
                "; `blockforge plugins` lists the installed plugins")
        else:
            hint = "is the plugin that provides it installed? see `blockforge plugins`"
        from blockforge.registry.examples import example_plugin_for, install_hint

        example = example_plugin_for(here.kind.value, name) if not near else None
        if example is not None:
            hint = f"{install_hint(example)}; {hint}" if hint else install_hint(example)
        tpath = (*path, "type") if isinstance(raw, dict) else path
        msg = f"unknown {here.kind.value} component {name!r}"
        if len(reg) and not near:
            msg += " (no installed plugin provides it)"
        return SpecIssue(tpath, msg, doc.locate(tpath), hint, "unknown_component")

    if etype == "union_tag_not_found" and here.kind is not None:
        names = registries[here.kind].names()
        return SpecIssue(path, f"a {here.kind.value} reference needs 'type'", doc.locate(path),
                         "one of: " + ", ".join(names), "missing_type")

    if etype == "missing":
        key = str(path[-1]) if path else "?"
        parent = shapes[-2] if len(shapes) > 1 else Shape("other")
        hint = None
        if parent.model is not None and key in parent.model.model_fields:
            from blockforge.spec.params import field_docs

            hint = parent.model.model_fields[key].description or field_docs(parent.model).get(key)
        return SpecIssue(path, f"missing required key {key!r}", doc.locate(path[:-1]), hint, "missing")

    if path == ("blockforge",):
        issue = format_version_issue({"blockforge": raw}, doc.locate)
        if issue is not None:
            return issue

    if etype == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = [o.strip().strip("'\"") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        near = suggest(str(raw), options) if isinstance(raw, str) else []
        hint = f"expected {expected}" + (f"; did you mean {near[0]!r}?" if near else "")
        return SpecIssue(path, f"invalid value {_short(raw)}", doc.locate(path), hint, etype)

    msg = err["msg"]
    if "input" in err and etype not in ("model_type", "dict_type"):
        msg = f"{msg}, got {_short(err['input'])}"
    return SpecIssue(path, msg, doc.locate(path), _type_hint(etype, err.get("input")), etype)


def _type_hint(etype: str, value: Any) -> str | None:
    """What to write instead of a value of the wrong type (parameter models are strict: a boolean or a
    quoted string is not a number, a number is not a boolean, a non-finite number is refused)."""
    if etype in ("int_type", "float_type"):
        number = "an integer" if etype == "int_type" else "a number"
        if isinstance(value, bool):
            return f"write {number} (e.g. 4); {str(value).lower()} is a boolean, not a number"
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return f"write {number} (e.g. 4)"
            return f"write {value.strip()} without quotes: a quoted value is a string"
        if etype == "int_type" and isinstance(value, float):
            return "write a whole number, without a decimal point or exponent"
        return f"write {number}"
    if etype == "int_from_float":
        return "write a whole number, without a decimal point or exponent"
    if etype == "finite_number":
        return "write a finite number: .inf and .nan are not accepted here"
    if etype == "bool_type":
        return "write true or false"
    if etype == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"write it in quotes (\"{value}\") if you mean the text"
    return None


def _mapped(issue: SpecIssue, loc: _Locator) -> SpecIssue:
    return replace(issue, path=loc.path(issue.path))


def _sort_key(issue: SpecIssue) -> tuple[int, int]:
    loc = issue.location
    return (loc.line or 0, loc.col or 0) if loc else (0, 0)



convert_error = _convert
sort_key = _sort_key

__all__ = ["convert_error", "sort_key"]

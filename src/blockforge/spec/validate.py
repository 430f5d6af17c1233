"""Validate a loaded document against a registry set; turn every problem into a located SpecIssue.

Torch-free: ``blockforge validate`` runs this and nothing heavier.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from blockforge.errors import Location, SpecError, SpecIssue, SpecPath, suggest
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registries
from blockforge.spec.binding import Shape, _type_of, bind, field_annotation, shape_of
from blockforge.spec.loader import Document
from blockforge.spec.models import FORMAT_VERSION, SpecFile
from blockforge.spec.params import Params


def _walk(loc: tuple[Any, ...], data: Any, registries: Registries) -> tuple[SpecPath, list[Shape], Any]:
    """Follow a pydantic error location through the unbound models and the raw data.

    Returns:
        The spec path (union tags removed), the shape at each step (``shapes[-1]`` is the shape at
        the error's position, ``shapes[-2]`` its parent's), and the raw value at the position.
    """
    tp: Any = SpecFile
    path: list[str | int] = []
    shapes = [shape_of(tp)]
    for elem in loc:
        shape = shapes[-1]
        if shape.what == "slot":
            name = _type_of(data)
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


def _convert(err: Any, doc: Document, registries: Registries) -> SpecIssue:
    etype: str = err["type"]
    path, shapes, raw = _walk(tuple(err["loc"]), doc.data, registries)
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
        name = str(ctx.get("tag", _type_of(raw)))
        reg = registries[here.kind]
        near = suggest(name, reg.names())
        if near:
            hint = "did you mean " + " or ".join(repr(n) for n in near) + "?"
        elif len(reg):
            hint = f"registered {here.kind.value} components: " + ", ".join(reg.names()) + (
                "; `blockforge plugins` lists the installed plugins")
        else:
            hint = "is the plugin that provides it installed? see `blockforge plugins`"
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
            hint = parent.model.model_fields[key].description
        return SpecIssue(path, f"missing required key {key!r}", doc.locate(path[:-1]), hint, "missing")

    if path == ("blockforge",):
        return SpecIssue(path, f"unsupported spec format version {_short(raw)}",
                         doc.locate(path),
                         f"this blockforge reads `blockforge: {FORMAT_VERSION}`; see README 'Format versions'",
                         "format_version")

    if etype == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = [o.strip().strip("'\"") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        near = suggest(str(raw), options) if isinstance(raw, str) else []
        hint = f"expected {expected}" + (f"; did you mean {near[0]!r}?" if near else "")
        return SpecIssue(path, f"invalid value {_short(raw)}", doc.locate(path), hint, etype)

    msg = err["msg"]
    if "input" in err and etype not in ("model_type", "dict_type"):
        msg = f"{msg}, got {_short(err['input'])}"
    return SpecIssue(path, msg, doc.locate(path), None, etype)


def _components(value: Any, path: SpecPath) -> Iterator[tuple[SpecPath, Params]]:
    """Every component parameter object under ``value``, with its spec path."""
    if isinstance(value, Params):
        if type(value).__blockforge_kind__ is not None:
            yield path, value
        for name in type(value).model_fields:
            yield from _components(getattr(value, name), (*path, name))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _components(getattr(value, name), (*path, name))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _components(item, (*path, i))
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _components(item, (*path, k))


def check_contracts(spec: BaseModel, doc: Document) -> list[SpecIssue]:
    """Run every component's :meth:`Params.check` with the model's build context."""
    model = getattr(spec, "model", None)
    make_ctx = getattr(model, "build_context", None)
    if make_ctx is None:
        return []
    ctx: BuildContext = make_ctx()
    issues: list[SpecIssue] = []
    for path, params in _components(spec, ()):
        for field, message in params.check(ctx):
            p = (*path, field) if field else path
            issues.append(SpecIssue(p, message, doc.locate(p), None, "contract"))
    return issues


def _sort_key(issue: SpecIssue) -> tuple[int, int]:
    loc = issue.location
    return (loc.line or 0, loc.col or 0) if loc else (0, 0)


def validate_document(doc: Document, registries: Registries) -> BaseModel:
    """Validate ``doc`` against ``registries``.

    Args:
        doc: a loaded document (see :mod:`blockforge.spec.loader`).
        registries: where component names resolve.

    Returns:
        The validated spec (an instance of the bound :class:`SpecFile`).

    Raises:
        SpecError: with every issue found, each located.
    """
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else type(doc.data).__name__
        raise SpecError([SpecIssue((), f"a spec must be a mapping at the top level, got {kind}",
                                   doc.locate(()) or Location(doc.source), "mapping at the top level with "
                                   "'blockforge: 1' and 'model:'", "top_level")])
    bound = bind(SpecFile, registries)
    try:
        spec = bound.model_validate(doc.data)
    except ValidationError as exc:
        issues = [_convert(e, doc, registries) for e in exc.errors(include_url=False)]
        raise SpecError(sorted(issues, key=_sort_key)) from None
    issues = check_contracts(spec, doc)
    if issues:
        raise SpecError(sorted(issues, key=_sort_key))
    return spec

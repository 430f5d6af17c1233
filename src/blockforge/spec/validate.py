"""Validate a loaded document against a registry set; turn every problem into a located SpecIssue.

Torch-free: ``blockforge validate`` runs this and nothing heavier.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from blockforge.errors import Location, SpecError, SpecIssue, SpecPath, suggest
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registries
from blockforge.spec.binding import Shape, _type_of, bind, field_annotation, shape_of, slot_adapter
from blockforge.spec.loader import Document
from blockforge.spec.models import FORMAT_VERSION, SpecFile
from blockforge.spec.params import Params
from blockforge.spec.plan import LayerPlan, LayerStack, Stack, resolve_plan
from blockforge.spec.training import training_issues


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
            from blockforge.spec.params import field_docs

            hint = parent.model.model_fields[key].description or field_docs(parent.model).get(key)
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


def _mapped(issue: SpecIssue, loc: _Locator) -> SpecIssue:
    return replace(issue, path=loc.path(issue.path))


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
    """Run every component's contracts (:func:`contract_issues`) with the model's build context.

    Args:
        spec: a validated spec.
        doc: its document (for locations).

    Returns:
        One located issue per broken contract; none if the model has no ``build_context``.
    """
    model = getattr(spec, "model", None)
    make_ctx = getattr(model, "build_context", None)
    if make_ctx is None:
        return []
    ctx: BuildContext = make_ctx()
    issues: list[SpecIssue] = []
    for path, params in _components(spec, ()):
        for field, message, hint in contract_issues(params, ctx):
            p = (*path, field) if field else path
            issues.append(SpecIssue(p, message, doc.locate(p), hint, "contract"))
    return issues


def _position_issues(params: Params, ctx: BuildContext) -> Iterator[tuple[str, str, str | None]]:
    """The positions contract of one mixer: with an encoding that acts inside attention (``ctx.positions``),
    an order-blind mixer that ignores ``positions=`` would leave its layer without position information."""
    cls = type(params)
    if ctx.positions is None or cls.__blockforge_kind__ != "attention" or cls.uses_positions != "ignores":
        return
    yield "", (
        f"the {cls.__blockforge_name__} mixer ignores the positions= it is called with, so with positional: "
        f"{ctx.positions} this layer has no position information"
    ), (
        f"use positional: learned or sinusoidal (added to the embeddings) with {cls.__blockforge_name__}, or a "
        f"mixer that applies {ctx.positions} (mha); a plugin mixer that applies positions declares "
        "uses_positions = \"applies\" on its parameter model (docs/plugins.md, 'Positions')"
    )


def contract_issues(params: Params, ctx: BuildContext) -> Iterator[tuple[str, str, str | None]]:
    """Every contract one component breaks in ``ctx``: its own :meth:`Params.check` and the positions contract.

    Args:
        params: a validated component (a bound parameter model instance).
        ctx: the build context of the model (``ctx.layer`` set inside a stack's plan).

    Returns:
        An iterator of ``(field, message, hint)``; ``field`` is relative to the component (``""`` for
        the component itself) and ``hint`` is None when the message says it all.
    """
    for field, message in params.check(ctx):
        yield field, message, None
    yield from _position_issues(params, ctx)


def check_positions_used(spec: BaseModel, doc: Document) -> list[SpecIssue]:
    """Refuse an encoding that acts inside attention (RoPE, ALiBi) when no mixer of the model applies it.

    Order-blind mixers are reported layer by layer (:func:`contract_issues`); this catches the rest: a
    stack of recurrent mixers only, where ``positional: rope`` would silently do nothing.

    Args:
        spec: a validated spec whose plans resolve.
        doc: the document (for the location of ``model.positional``).

    Returns:
        One issue at ``model.positional``, or none.
    """
    model = getattr(spec, "model", None)
    make_ctx = getattr(model, "build_context", None)
    if model is None or make_ctx is None or make_ctx().positions is None:
        return []
    trees: list[Any] = [model]
    if isinstance(model, LayerStack):
        for stack in type(model).__blockforge_stacks__:
            trees.extend(model.stack_layers(stack))
    uses: dict[str, str] = {}
    for tree in trees:
        for _, params in _components(tree, ()):
            cls = type(params)
            if cls.__blockforge_kind__ == "attention" and cls.__blockforge_name__ is not None:
                uses[cls.__blockforge_name__] = cls.uses_positions
    if not uses or {"applies", "ignores"} & set(uses.values()):
        return []
    positions = make_ctx().positions
    path = ("model", "positional")
    mixers = ", ".join(sorted(uses))
    return [SpecIssue(path, f"positional: {positions} has no effect: no mixer of this model applies it "
                      f"(its mixers: {mixers})", doc.locate(path),
                      "use positional: none (recurrent mixers know token order themselves), or add an attention "
                      f"layer that applies {positions} (mha)", "contract")]


def _sort_key(issue: SpecIssue) -> tuple[int, int]:
    loc = issue.location
    return (loc.line or 0, loc.col or 0) if loc else (0, 0)


def _layer_list(layers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"layers 0-2, 5"``."""
    runs: list[list[int]] = []
    for i in layers:
        if runs and runs[-1][-1] + 1 == i:
            runs[-1].append(i)
        else:
            runs.append([i])
    text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)
    return ("layer " if len(layers) == 1 else "layers ") + text


def _stack_kind(model: type[BaseModel], block_field: str) -> Any:
    """The component kind of a stack's block field (read from the unbound class in the MRO)."""
    for cls in model.__mro__:
        fields = getattr(cls, "model_fields", None)
        if isinstance(fields, dict) and block_field in fields:
            kind = shape_of(field_annotation(fields[block_field])).kind
            if kind is not None:
                return kind
    raise TypeError(f"{model.__name__} has no component slot {block_field!r}")


def check_stack(
    doc: Document, registries: Registries, at: SpecPath, model: Any, block: Any, plan: LayerPlan, n_layers: int,
    ctx: BuildContext | None, stack: Stack = Stack(),
) -> tuple[list[SpecIssue], list[Any]]:
    """Resolve and validate every layer of a stack; locate problems where the offending value is written.

    Args:
        doc: the document (for locations).
        registries: where names resolve.
        at: the spec path of the stack's model (e.g. ``("model",)``).
        model: the stack's parameter class, whose block field says what a layer is.
        block: the validated base block.
        plan: the validated plan.
        n_layers: the stack depth.
        ctx: the build context for shape contracts, or None to skip them.
        stack: the field names of the stack.

    Returns:
        The issues, and (when there are none) the validated block of every layer.
    """
    groups, plan_issues = resolve_plan(block.model_dump(mode="json"), plan, n_layers, plan_field=stack.plan)
    issues = [SpecIssue((*at, *pi.path), pi.message, doc.locate((*at, *pi.path)), pi.hint, "plan")
              for pi in plan_issues]
    if issues:
        return issues, []
    kind = _stack_kind(model, stack.block)
    adapter = slot_adapter(registries, kind)
    found: dict[tuple[Any, ...], tuple[SpecIssue, list[int]]] = {}
    layers: list[Any] = [None] * n_layers

    for g in groups:
        def where(p: SpecPath, g: Any = g) -> SpecPath:
            o = g.merged.origin(tuple(p))
            return (*at, *o[1]) if o is not None else (*at, stack.block, *p)

        try:
            value = adapter.validate_python(g.merged.value)
        except ValidationError as exc:
            got = [_convert(e, doc, registries, data=g.merged.value, root=Shape("slot", kind=kind), where=where)
                   for e in exc.errors(include_url=False)]
        else:
            for i in g.layers:
                layers[i] = value
            got = []
            if ctx is not None:
                lctx = ctx.at_layer(g.layers[0])
                for p, params in _components(value, ()):
                    for f, message, hint in contract_issues(params, lctx):
                        rel = (*p, f) if f else p
                        dp = where(rel)
                        got.append(SpecIssue(dp, message, doc.locate(dp), hint, "contract"))
        for issue in got:
            key = (issue.path, issue.message, issue.code)
            if key in found:
                found[key][1].extend(g.layers)
            else:
                found[key] = (issue, list(g.layers))
    for issue, ls in found.values():
        note = f"in {_layer_list(sorted(ls))} of the plan"
        issues.append(replace(issue, message=f"{issue.message} ({note})"))
    return issues, ([] if issues else layers)


def check_plans(spec: BaseModel, doc: Document, registries: Registries) -> list[SpecIssue]:
    """Validate the layer plan of every stack in ``spec`` (every resolved layer, located).

    Args:
        spec: a validated spec.
        doc: its document (for locations).
        registries: where names in the plan resolve.

    Returns:
        The issues, each located where the offending value is written and naming the layers.
    """
    issues: list[SpecIssue] = []
    for path, params in _components(spec, ()):
        if not isinstance(params, LayerStack):
            continue
        make_ctx = getattr(params, "build_context", None)
        ctx = make_ctx() if make_ctx is not None else None
        for stack in type(params).__blockforge_stacks__:
            plan = getattr(params, stack.plan, None)
            if plan is None:
                continue
            got, _ = check_stack(doc, registries, path, type(params), getattr(params, stack.block), plan,
                                 getattr(params, stack.n_layers), ctx, stack)
            issues.extend(got)
    return issues


def _raw_plan_issues(doc: Document, registries: Registries) -> list[SpecIssue]:
    """Check the model's plans even when the rest of the spec has errors (all errors in one report)."""
    from blockforge.registry.kinds import Kind

    model = doc.data.get("model") if isinstance(doc.data, dict) else None
    name = model.get("type") if isinstance(model, dict) else None
    reg = registries[Kind.MODEL]
    if not isinstance(name, str) or name not in reg:
        return []
    params = reg.get(name).params
    if not issubclass(params, LayerStack):
        return []
    issues: list[SpecIssue] = []
    for stack in params.__blockforge_stacks__:
        n = model.get(stack.n_layers)
        if model.get(stack.plan) is None or not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= 100_000:
            continue
        kind = _stack_kind(params, stack.block)
        try:
            plan = LayerPlan.model_validate(model[stack.plan])
            block = slot_adapter(registries, kind).validate_python(model.get(stack.block))
        except ValidationError:
            continue  # reported by the main pass
        issues.extend(check_stack(doc, registries, ("model",), params, block, plan, n, None, stack)[0])
    return issues


_CTX_FIELDS = ("d_model", "vocab_size", "max_len", "n_layers")


def _partial_contracts(doc: Document, registries: Registries) -> list[SpecIssue]:
    """Shape contracts of the components that are valid on their own, when the spec as a whole is not
    (so that a typo elsewhere does not hide a broken contract: all errors in one report)."""
    from blockforge.registry.kinds import Kind

    model = doc.data.get("model") if isinstance(doc.data, dict) else None
    if not isinstance(model, dict) or not all(
        isinstance(model.get(k), int) and not isinstance(model.get(k), bool) and model.get(k) > 0
        for k in _CTX_FIELDS
    ):
        return []
    ctx = BuildContext(**{k: model[k] for k in _CTX_FIELDS})
    issues: list[SpecIssue] = []

    def visit(raw: Any, kind: Kind, path: SpecPath, depth: int) -> None:
        if depth > 16:
            return
        try:
            value = slot_adapter(registries, kind).validate_python(raw)
        except ValidationError:
            name = _type_of(raw)
            if not isinstance(raw, dict) or name is None or name not in registries[kind]:
                return
            params = registries[kind].get(name).params
            for field, info in params.model_fields.items():
                shape = shape_of(field_annotation(info))
                if shape.what == "slot" and shape.kind is not None and field in raw:
                    visit(raw[field], shape.kind, (*path, field), depth + 1)
            return
        for p, comp in _components(value, ()):
            for f, message, hint in contract_issues(comp, ctx):
                full = (*path, *p, f) if f else (*path, *p)
                issues.append(SpecIssue(full, message, doc.locate(full), hint, "contract"))

    visit(model, Kind.MODEL, ("model",), 0)
    return issues


def validate_document(doc: Document, registries: Registries) -> BaseModel:
    """Validate ``doc`` against ``registries``: structure, shape contracts and every layer of each plan.

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
    early = list(doc.issues)

    def report(found: list[SpecIssue]) -> SpecError:
        # a value already reported while composing (an unresolved reference) is not reported again
        def covered(i: SpecIssue) -> bool:
            return any(e.path and tuple(i.path[: len(e.path)]) == tuple(e.path) for e in early)

        return SpecError(sorted([*early, *(i for i in found if not covered(i))], key=_sort_key))

    version = doc.data.get("blockforge")
    if "blockforge" in doc.data and (version != FORMAT_VERSION or isinstance(version, bool)):
        # a spec of another format version means something else: report only that
        raise SpecError([SpecIssue(("blockforge",), f"unsupported spec format version {_short(version)}",
                                   doc.locate(("blockforge",)),
                                   f"this blockforge reads `blockforge: {FORMAT_VERSION}`; see README "
                                   "'Format versions'", "format_version")])
    bound = bind(SpecFile, registries)
    try:
        spec = bound.model_validate(doc.data)
    except ValidationError as exc:
        issues = [_convert(e, doc, registries) for e in exc.errors(include_url=False)]
        issues.extend(_raw_plan_issues(doc, registries))
        issues.extend(_partial_contracts(doc, registries))
        raise report(issues) from None
    issues = check_contracts(spec, doc)
    issues.extend(check_plans(spec, doc, registries))
    if not issues and not early:
        issues.extend(check_positions_used(spec, doc))
        issues.extend(training_issues(spec, doc))
    if issues or early:
        raise report(issues)
    return spec

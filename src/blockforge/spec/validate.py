"""Validate a loaded document against a registry set: structure, contracts, and the plan checks (every
resolved layer of every stack); return the spec with its resolved plan attached.

The jobs around it live next door: :mod:`~blockforge.spec.issues` turns pydantic errors into located
issues, :mod:`~blockforge.spec.contracts` runs component contracts, :mod:`~blockforge.spec.resolved`
holds the resolved plan, :func:`~blockforge.spec.models.format_version_issue` checks the format version.
Torch-free: ``blockforge validate`` runs this and nothing heavier.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from blockforge.errors import Location, SpecError, SpecIssue, SpecPath
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registries
from blockforge.spec.binding import bind, slot_adapter
from blockforge.spec.contracts import (
    attends_issues,
    check_attends,
    check_contracts,
    check_positions_used,
    check_replicas,
    components,
    contract_issues,
    partial_contracts,
    raw_context,
)
from blockforge.spec.issues import convert_error, sort_key
from blockforge.spec.loader import Document
from blockforge.spec.models import SpecFile, format_version_issue
from blockforge.spec.plan import LayerGroup, LayerPlan, LayerStack, Stack, resolve_plan
from blockforge.spec.plan import resolve
from blockforge.spec.slots import Shape, field_annotation, shape_of, slot_of
from blockforge.spec.training import training_issues


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
) -> tuple[list[SpecIssue], list[Any], list[LayerGroup]]:
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
        The issues, and (when there are none) the validated block of every layer and the layer groups.
    """
    groups, plan_issues = resolve_plan(block.model_dump(mode="json"), plan, n_layers, plan_field=stack.plan)
    issues = [SpecIssue((*at, *pi.path), pi.message, doc.locate((*at, *pi.path)), pi.hint, "plan")
              for pi in plan_issues]
    if issues:
        return issues, [], []
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
            got = [convert_error(e, doc, registries, data=g.merged.value, root=Shape("slot", kind=kind), where=where)
                   for e in exc.errors(include_url=False)]
        else:
            for i in g.layers:
                layers[i] = value
            got = []
            for p, message, hint in attends_issues(value, registries, (), slot_of(model, stack.block),
                                                   f"model {getattr(model, '__blockforge_name__', None)!r}"):
                dp = where(p)
                got.append(SpecIssue(dp, message, doc.locate(dp), hint, "slot"))
            if ctx is not None:
                lctx = ctx.at_layer(g.layers[0])
                for p, params in components(value, ()):
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
    return issues, ([] if issues else layers), groups


def check_plans(
    spec: BaseModel, doc: Document, registries: Registries
) -> tuple[list[SpecIssue], dict[tuple[SpecPath, str], tuple[list[Any], list[LayerGroup]]]]:
    """Validate the layer plan of every stack in ``spec`` (every resolved layer, located).

    Args:
        spec: a validated spec.
        doc: its document (for locations).
        registries: where names in the plan resolve.

    Returns:
        The issues, each located where the offending value is written and naming the layers; and, for
        each stack with a plan, ``(model path, stack name) -> (validated layers, layer groups)`` for
        :func:`blockforge.spec.plan.resolve` (so the plan is resolved once).
    """
    issues: list[SpecIssue] = []
    found: dict[tuple[SpecPath, str], tuple[list[Any], list[LayerGroup]]] = {}
    for path, params in components(spec, ()):
        if not isinstance(params, LayerStack):
            continue
        make_ctx = getattr(params, "build_context", None)
        ctx = make_ctx() if make_ctx is not None else None
        for stack in type(params).__blockforge_stacks__:
            plan = getattr(params, stack.plan, None)
            if plan is None:
                continue
            got, layers, groups = check_stack(doc, registries, path, type(params), getattr(params, stack.block),
                                              plan, getattr(params, stack.n_layers), ctx, stack)
            issues.extend(got)
            found[(path, stack.layers)] = (layers, groups)
    return issues, found


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
        # the layers' contracts too: the base block's are not checked when a plan may replace it
        ctx = raw_context(doc)
        issues.extend(check_stack(doc, registries, ("model",), params, block, plan, n, ctx, stack)[0])
    return issues


def validate_document(doc: Document, registries: Registries) -> BaseModel:
    """Validate ``doc`` against ``registries``: structure, shape contracts and every layer of each plan.

    Args:
        doc: a loaded document (see :mod:`blockforge.spec.loader`).
        registries: where component names resolve.

    Returns:
        The validated spec (an instance of the bound :class:`SpecFile`); ``spec.plan`` is its
        :class:`~blockforge.spec.resolved.ResolvedPlan`, resolved here once.

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

        return SpecError(sorted([*early, *(i for i in found if not covered(i))], key=sort_key))

    version_issue = format_version_issue(doc.data, doc.locate)
    if version_issue is not None:  # a spec of another format version means something else: report only that
        raise SpecError([version_issue])
    bound = bind(SpecFile, registries)
    try:
        spec = bound.model_validate(doc.data)
    except ValidationError as exc:
        issues = [convert_error(e, doc, registries) for e in exc.errors(include_url=False)]
        issues.extend(_raw_plan_issues(doc, registries))
        issues.extend(partial_contracts(doc, registries))
        raise report(issues) from None
    issues = check_contracts(spec, doc)
    issues.extend(check_attends(spec, doc, registries))
    plan_issues, found = check_plans(spec, doc, registries)
    issues.extend(plan_issues)
    if not issues and not early:
        spec._plan.value = resolve(spec, locate=doc.locate, found=found)  # type: ignore[attr-defined]
        issues.extend(check_positions_used(spec, doc))
        issues.extend(check_replicas(spec, doc))
        issues.extend(training_issues(spec, doc))
    if issues or early:
        raise report(issues)
    return spec

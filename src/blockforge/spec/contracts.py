"""Component contracts: each component's own ``check``, and the positions contract between mixers and the
positional encoding. Torch-free."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from blockforge.errors import SpecIssue, SpecPath
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registries
from blockforge.spec.binding import type_of, slot_adapter
from blockforge.spec.loader import Document
from blockforge.spec.params import Params
from blockforge.spec.slots import ComponentSlot, field_annotation, shape_of, slot_of


def _stack_blocks(value: Params, which: str) -> set[str]:
    """The block fields of ``value``'s stacks (``LayerStack``) that ``which`` leaves out: ``"planned"``, the
    stacks with a plan (their layers are what is built, the base block only what they start from);
    ``"stacks"``, every stack; ``"none"``, none."""
    if which == "none":
        return set()
    stacks = getattr(type(value), "__blockforge_stacks__", ())
    return {st.block for st in stacks if which == "stacks" or getattr(value, st.plan, None) is not None}


def _components(value: Any, path: SpecPath, skip: str = "none") -> Iterator[tuple[SpecPath, Params]]:
    """Every component parameter object under ``value``, with its spec path.

    Args:
        value: a validated spec, component, or a value holding components.
        path: the spec path of ``value``.
        skip: which stacks' base blocks to leave out (see :func:`_stack_blocks`): contracts are checked on
            the resolved layers of a stack with a plan, never on the base block the plan may replace.
    """
    if isinstance(value, Params):
        if type(value).__blockforge_kind__ is not None:
            yield path, value
        left_out = _stack_blocks(value, skip)
        for name in type(value).model_fields:
            if name not in left_out:
                yield from _components(getattr(value, name), (*path, name), skip)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _components(getattr(value, name), (*path, name), skip)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _components(item, (*path, i), skip)
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _components(item, (*path, k), skip)


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
    # a stack with a plan is checked layer by layer, as resolved (validate.check_stack), not its base block
    for path, params in _components(spec, (), skip="planned"):
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
    # the layers as resolved (a plan may replace every base block's mixer), and the rest of the model
    found = [params for _, params in _components(model, (), skip="stacks")]
    for stack in spec.plan:  # type: ignore[attr-defined]
        for block in stack.blocks():
            found.extend(params for _, params in _components(block, ()))
    uses: dict[str, str] = {}
    for params in found:
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


def check_replicas(spec: BaseModel, doc: Document) -> list[SpecIssue]:
    """Bound the copies of sub-networks (experts) over the model's resolved layers by :data:`MAX_REPLICAS`.

    Each field stays within its own bound (``experts <= 1024``, ``n_layers <= 1024``), but their product
    does not: 1024 layers of 1024 experts validate, then take minutes and gigabytes to build even on the
    meta device. The issue sits at the stack's ``n_layers``.

    Args:
        spec: a validated spec whose plans resolve.
        doc: the document (for locations).

    Returns:
        One issue per stack past the bound, or none.
    """
    from blockforge.spec.params import MAX_REPLICAS

    def experts(value: Any, skip: str = "none") -> int:
        counts = (params.replicas() for _, params in _components(value, (), skip))
        return sum(n for n in counts if n > 1)

    total = experts(getattr(spec, "model", None), skip="stacks")  # components outside the stacks
    issues = []
    for stack in spec.plan:  # type: ignore[attr-defined]
        total += sum(experts(block) for block in stack.blocks())
        if total > MAX_REPLICAS:
            path = (*stack.owner, stack.n_layers_field)
            issues.append(SpecIssue(path, f"the model builds {total:,} experts over its layers, more than "
                                    f"{MAX_REPLICAS:,}: it would take minutes and gigabytes to build, even "
                                    "on the meta device", doc.locate(path),
                                    f"at most {MAX_REPLICAS:,} experts in all (fewer layers, fewer experts "
                                    "per layer, or experts on every other layer with a plan)", "contract"))
            break
    return issues


_CTX_FIELDS = ("d_model", "vocab_size", "max_len", "n_layers")


def raw_context(doc: Document) -> BuildContext | None:
    """The build context of a spec that does not validate as a whole, from its model's plain sizes, or None
    when they are not all positive integers (then no contract can be checked)."""
    model = doc.data.get("model") if isinstance(doc.data, dict) else None
    if not isinstance(model, dict) or not all(
        isinstance(model.get(k), int) and not isinstance(model.get(k), bool) and model.get(k) > 0
        for k in _CTX_FIELDS
    ):
        return None
    return BuildContext(**{k: model[k] for k in _CTX_FIELDS})


def _partial_contracts(doc: Document, registries: Registries) -> list[SpecIssue]:
    """Shape contracts of the components that are valid on their own, when the spec as a whole is not
    (so that a typo elsewhere does not hide a broken contract: all errors in one report)."""
    from blockforge.registry.kinds import Kind

    model = doc.data.get("model") if isinstance(doc.data, dict) else None
    ctx = raw_context(doc)
    if ctx is None:
        return []
    issues: list[SpecIssue] = []

    def visit(raw: Any, kind: Kind, path: SpecPath, depth: int) -> None:
        if depth > 16:
            return
        try:
            value = slot_adapter(registries, kind).validate_python(raw)
        except ValidationError:
            name = type_of(raw)
            if not isinstance(raw, dict) or name is None or name not in registries[kind]:
                return
            params = registries[kind].get(name).params
            planned = {st.block for st in getattr(params, "__blockforge_stacks__", ()) if raw.get(st.plan) is not None}
            for field, info in params.model_fields.items():
                shape = shape_of(field_annotation(info))
                if shape.what == "slot" and shape.kind is not None and field in raw and field not in planned:
                    visit(raw[field], shape.kind, (*path, field), depth + 1)
            return
        for p, comp in _components(value, (), skip="planned"):
            for f, message, hint in contract_issues(comp, ctx):
                full = (*path, *p, f) if f else (*path, *p)
                issues.append(SpecIssue(full, message, doc.locate(full), hint, "contract"))

    visit(model, Kind.MODEL, ("model",), 0)
    return issues



_ATTENDS = {
    "self": "within one sequence (called as m(x, mask=, positions=))",
    "memory": "to an encoder output (called with memory=, memory_mask=)",
}
_EXAMPLES = {("attention", "self"): "mha", ("attention", "memory"): "cross_mha",
             ("block", "self"): "transformer", ("block", "memory"): "decoder"}


def attends_of(cls: type) -> str:
    """What a component class declares it attends to (``Params.attends``); a mixer declaring
    ``uses_positions = "cross"`` attends to ``memory`` as well."""
    if getattr(cls, "attends", "self") == "memory" or getattr(cls, "uses_positions", None) == "cross":
        return "memory"
    return "self"


def attends_issues(
    value: Any, registries: Registries, path: SpecPath = (), slot: ComponentSlot | None = None, parent: str = "the spec"
) -> Iterator[tuple[SpecPath, str, str]]:
    """Every component under ``value`` in a slot that takes what it does not declare (``Params.attends``).

    Args:
        value: a validated component (or any value holding components).
        registries: to name the plugin that provides a component.
        path: the spec path of ``value``.
        slot: the slot ``value`` fills, if it is a component.
        parent: the component the slot belongs to, for the message.

    Returns:
        ``(path, message, hint)`` per mismatch; the message names the component, its plugin and the slot.
    """
    if isinstance(value, Params):
        cls = type(value)
        kind, name = cls.__blockforge_kind__, cls.__blockforge_name__
        if slot is not None and kind is not None and name is not None:
            got = attends_of(cls)
            if got != slot.attends:
                reg = registries[kind]
                owner = reg.get(name).owner if name in reg else "?"
                field = path[-1] if path else "?"
                example = _EXAMPLES.get((kind, slot.attends))
                yield path, (
                    f"{kind} component {name!r} (from {owner}) attends {_ATTENDS[got]}, but the {field} slot of "
                    f"{parent} takes one that attends {_ATTENDS[slot.attends]}"
                ), (
                    (f"use e.g. {{type: {example}, ...}}; " if example else "")
                    + f"a component declares attends = \"{slot.attends}\" on its parameter model to fit this slot "
                    "(docs/plugins.md, 'What a slot takes')"
                )
        here = f"{kind} {name!r}" if kind is not None and name is not None else parent
        left_out = _stack_blocks(value, "planned")  # checked layer by layer, as resolved (validate.check_stack)
        for fname in cls.model_fields:
            if fname in left_out:
                continue
            yield from attends_issues(getattr(value, fname), registries, (*path, fname), slot_of(cls, fname), here)
    elif isinstance(value, BaseModel):
        for fname in type(value).model_fields:
            sub = slot_of(type(value), fname)
            yield from attends_issues(getattr(value, fname), registries, (*path, fname), sub, parent)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from attends_issues(item, registries, (*path, i), slot, parent)
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from attends_issues(item, registries, (*path, k), slot, parent)


def check_attends(spec: BaseModel, doc: Document, registries: Registries) -> list[SpecIssue]:
    """Refuse a component in a slot that takes another ``attends`` (see :func:`attends_issues`), located.

    Args:
        spec: a validated spec.
        doc: its document (for locations).
        registries: the registries it was validated against.
    """
    return [SpecIssue(p, m, doc.locate(p), h, "slot") for p, m, h in attends_issues(spec, registries)]


components = _components
partial_contracts = _partial_contracts

__all__ = [
    "attends_issues", "attends_of", "check_attends", "check_contracts", "check_positions_used", "components",
    "contract_issues", "partial_contracts", "raw_context"]

"""Layer plans: heterogeneous stacks from one base block, named variants, a repeating pattern and
per-layer overrides. Torch-free.

A model with a stack (``n_layers`` copies of ``block``) may add ``plan:``::

    block: {type: transformer, attention: {type: mha, heads: 8}, feedforward: {type: mlp, hidden: 2048}}
    plan:
      variants:                        # partial blocks, deep-merged over `block`
        local: {attention: {causal: true}}
        global: {}
      pattern: [local, local, global]  # repeated over the stack: layer i gets pattern[i % 3]
      overrides:                       # applied in order, after the pattern
        - at: -1                       # an index (negative counts from the end),
          block: {dropout: 0.1}        # a list of indices, or a slice "start:stop:step"
        - at: "::4"
          variant: global

Every layer's block is ``block``, then its pattern entry, then each override that selects it, merged
with the rules of :mod:`blockforge.spec.merge` (a different ``type`` replaces the component, so a
variant may be a different block kind altogether, e.g. a recurrent block in an attention stack).
The result, one fully resolved block per layer, is what the builder builds and ``blockforge plan`` shows.

A parameter model opts in by subclassing :class:`LayerStack` and declaring the fields ``block``
(a component slot), ``n_layers`` and ``plan: LayerPlan | None = None``. A model with more than one
stack (an encoder-decoder) lists them in ``__blockforge_stacks__``, e.g.
``(Stack(), Stack("decoder_block", "n_decoder_layers", "decoder_plan", "decoder_layers"))``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import Field, PrivateAttr, TypeAdapter, field_validator

from blockforge.errors import SpecPath
from blockforge.spec.merge import Merged, merge_into
from blockforge.spec.params import Params
from blockforge.spec.resolved import ResolvedLayer, ResolvedPlan, ResolvedStack

_SLICE = re.compile(r"^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?$")

Selector = int | list[int] | str


def select(at: Selector, n: int) -> list[int]:
    """The layer indices ``at`` selects in a stack of ``n``.

    Args:
        at: an index (negative counts from the end), a list of indices, or a slice ``"start:stop:step"``
            with Python's meaning (``"::3"`` every third layer, ``"2:"`` all but the first two).
        n: the number of layers.

    Returns:
        Sorted, distinct indices.

    Raises:
        ValueError: an index out of range, a malformed slice, or a selection of no layer.
    """
    if isinstance(at, bool):
        raise ValueError(f"layer selector must be an index, a list or a slice, got {at!r}")
    if isinstance(at, int):
        at = [at]
    if isinstance(at, list):
        out = set()
        for i in at:
            if not -n <= i < n:
                raise ValueError(f"layer {i} is out of range for n_layers={n} (valid: {-n}..{n - 1})")
            out.add(i % n)
        return sorted(out)
    m = _SLICE.match(at)
    if m is None:
        raise ValueError(f"{at!r} is not a layer slice; write e.g. '2:6', '::3' or '-4:'")
    start, stop, step = (int(g) if g is not None else None for g in m.groups())
    if step == 0:
        raise ValueError(f"slice step cannot be zero in {at!r}")
    picked = list(range(n))[slice(start, stop, step)]
    if not picked:
        raise ValueError(f"{at!r} selects no layer of n_layers={n}")
    return sorted(picked)


class LayerOverride(Params):
    """Changes for the layers ``at`` selects: a named variant and/or a partial block, merged in that order."""

    at: Selector
    """Which layers: an index (``-1`` is the last), a list of indices, or a slice ``"start:stop:step"``."""
    variant: str | None = None
    """The name of a variant (from ``plan.variants``) merged into these layers."""
    block: dict[str, Any] | str | None = None
    """A partial block deep-merged into these layers (a bare name or a different ``type`` replaces it)."""

    @field_validator("at")
    @classmethod
    def _slice_syntax(cls, v: Selector) -> Selector:
        if isinstance(v, str) and _SLICE.match(v) is None:
            raise ValueError(f"{v!r} is not a layer slice; write e.g. '2:6', '::3' or '-4:'")
        return v


class LayerPlan(Params):
    """How the layers of a stack differ from its base block."""

    variants: dict[str, dict[str, Any] | str] | None = None
    """Named partial blocks, deep-merged over the base block where the pattern or an override names them."""
    pattern: Annotated[list[str | dict[str, Any]], Field(min_length=1)] | None = None
    """Repeated over the stack: layer ``i`` merges ``pattern[i % len(pattern)]`` (a variant name or a
    partial block)."""
    overrides: list[LayerOverride] | None = None
    """Per-layer changes applied after the pattern, in order."""


@dataclass
class LayerGroup:
    """Layers that resolve to the same block.

    Attributes:
        layers: their indices.
        merged: the resolved block (plain values) with the provenance of each value.
        steps: what was merged, in order, as spec paths relative to the model (for ``blockforge plan``).
    """

    layers: list[int]
    merged: Merged
    steps: list[SpecPath] = field(default_factory=list)


@dataclass
class PlanIssue:
    """A problem in a plan: its path relative to the model, and the message."""

    path: SpecPath
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class Stack:
    """The field names of one stack of a :class:`LayerStack` model.

    Attributes:
        block: the component slot every layer starts from.
        n_layers: the stack depth.
        plan: the ``LayerPlan | None`` field that varies it per layer.
        layers: the name of the resolved stack (in the spec hash and ``blockforge plan``).
    """

    block: str = "block"
    n_layers: str = "n_layers"
    plan: str = "plan"
    layers: str = "layers"


def resolve_plan(
    block: Any, plan: LayerPlan | None, n_layers: int, *, plan_field: str = "plan"
) -> tuple[list[LayerGroup], list[PlanIssue]]:
    """Resolve every layer of a stack to a plain block, grouping identical layers.

    Args:
        block: the base block as plain values (a bare name is read as ``{type: name}``).
        plan: the validated plan, or None (every layer is ``block``).
        n_layers: the stack depth.
        plan_field: the name of the plan's field in the model (for the paths of problems and steps).

    Returns:
        The layer groups (in order of their first layer) and the plan's problems (unknown variant
        names, selectors out of range). Provenance tags are ``"model"``: source paths are relative
        to the model mapping.
    """
    base = {"type": block} if isinstance(block, str) else block
    issues: list[PlanIssue] = []
    recipes: list[list[tuple[SpecPath, Any]]] = [[] for _ in range(n_layers)]
    variants = (plan.variants or {}) if plan else {}

    def variant(name: str, where: SpecPath) -> tuple[SpecPath, Any] | None:
        if name not in variants:
            from blockforge.errors import suggest

            near = suggest(name, list(variants))
            hint = ("did you mean " + " or ".join(repr(n) for n in near) + "?") if near else (
                "defined variants: " + ", ".join(variants) if variants else "define it under plan.variants")
            issues.append(PlanIssue(where, f"unknown layer variant {name!r}", hint))
            return None
        return (plan_field, "variants", name), variants[name]

    if plan is not None and plan.pattern:
        entries = []
        for j, item in enumerate(plan.pattern):
            where = (plan_field, "pattern", j)
            entries.append(variant(item, where) if isinstance(item, str) else (where, item))
        for i in range(n_layers):
            entry = entries[i % len(entries)]
            if entry is not None:
                recipes[i].append(entry)
    for k, ov in enumerate((plan.overrides or []) if plan else []):
        where = (plan_field, "overrides", k)
        try:
            chosen = select(ov.at, n_layers)
        except ValueError as exc:
            issues.append(PlanIssue((*where, "at"), str(exc)))
            continue
        steps = []
        if ov.variant is not None:
            v = variant(ov.variant, (*where, "variant"))
            if v is not None:
                steps.append(v)
        if ov.block is not None:
            steps.append(((*where, "block"), ov.block))
        for i in chosen:
            recipes[i].extend(steps)

    groups: dict[str, LayerGroup] = {}
    for i, recipe in enumerate(recipes):
        key = json.dumps([list(p) for p, _ in recipe])
        if key in groups:
            groups[key].layers.append(i)
            continue
        merged = Merged(base)
        for src, patch in recipe:
            merge_into(merged, {"type": patch} if isinstance(patch, str) else patch, tag="model", src=src)
        groups[key] = LayerGroup([i], merged, [p for p, _ in recipe])
    return list(groups.values()), issues


class ResolvedSlot:
    """Holds what validation resolved on a frozen parameter model, without taking part in equality:
    two equal specs stay equal whether or not one of them has been resolved."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResolvedSlot)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ResolvedSlot()"


class LayerStack(Params):
    """Mixin for parameter models with stacks of blocks: by default one, ``block`` x ``n_layers``
    varied by ``plan`` (see :class:`Stack` and ``__blockforge_stacks__`` for more).

    :meth:`layers` gives the fully resolved block of every layer. ``load_spec`` resolves and validates
    every layer once (with locations in the plan) and stores the result here (see
    :mod:`blockforge.spec.resolved`); ``layers()`` and ``stack_layers()`` read it and never resolve
    again. A model built in code without ``load_spec`` is resolved on first use, once.
    """

    __blockforge_stacks__: ClassVar[tuple[Stack, ...]] = (Stack(),)
    _resolved: ResolvedSlot = PrivateAttr(default_factory=ResolvedSlot)

    def layers(self) -> list[Any]:
        """The per-layer plan of the (first) stack.

        Returns:
            The validated block spec of each layer, in order.

        Raises:
            ValueError: the plan does not resolve (only for specs that did not go through ``load_spec``).
        """
        return self.stack_layers(type(self).__blockforge_stacks__[0])

    def stack_layers(self, stack: Stack) -> list[Any]:
        """The per-layer plan of one stack (resolved once, then read from the resolved plan).

        Args:
            stack: one of ``__blockforge_stacks__``.

        Returns:
            The validated block spec of each layer of ``stack``, in order.

        Raises:
            ValueError: the plan does not resolve (only for specs that did not go through ``load_spec``).
        """
        return [layer.block for layer in self.resolved_stack(stack, owner=("model",)).layers]

    def resolved_stack(self, stack: Stack, *, owner: SpecPath, locate: Any = None) -> Any:
        """The :class:`~blockforge.spec.resolved.ResolvedStack` of ``stack`` (resolved on first use).

        Args:
            stack: one of ``__blockforge_stacks__``.
            owner: this model's spec path (for provenance), used when resolving here.
            locate: ``Document.locate``, for provenance locations, used when resolving here.
        """
        cache = self._resolved.value
        if cache is None:
            cache = self._resolved.value = {}
        if stack.layers not in cache:
            cache[stack.layers] = resolve_stack(self, stack, owner=owner, locate=locate)
        return cache[stack.layers]

    def set_resolved(self, stack: Stack, resolved: Any) -> None:
        """Store the stack resolved by validation (see :func:`blockforge.spec.validate.validate_document`)."""
        if self._resolved.value is None:
            self._resolved.value = {}
        self._resolved.value[stack.layers] = resolved


def resolve_stack(
    model: LayerStack, stack: Stack, *, owner: SpecPath, locate: Any = None, layers: list[Any] | None = None,
    groups: list[LayerGroup] | None = None,
) -> Any:
    """Resolve one stack of ``model`` into a :class:`~blockforge.spec.resolved.ResolvedStack`.

    Args:
        model: the validated model.
        stack: the stack's field names.
        owner: the model's spec path.
        locate: ``Document.locate`` for provenance locations, or None.
        layers, groups: the validated blocks and layer groups when validation has already computed them
            (then nothing is resolved here).

    Raises:
        ValueError: the plan does not resolve (only for specs that did not go through ``load_spec``).
    """

    n: int = getattr(model, stack.n_layers)
    plan: LayerPlan | None = getattr(model, stack.plan)
    block = getattr(model, stack.block)
    merged: list[Merged | None] = [None] * n
    steps: list[tuple[SpecPath, ...]] = [()] * n
    if plan is None:
        layers = [block] * n
    else:
        if layers is None or groups is None:
            groups, issues = resolve_plan(block.model_dump(mode="json"), plan, n, plan_field=stack.plan)
            if issues:
                raise ValueError("; ".join(f"{'.'.join(map(str, i.path))}: {i.message}" for i in issues))
            from blockforge.spec.slots import field_annotation

            adapter = TypeAdapter(field_annotation(type(model).model_fields[stack.block]))
            layers = [None] * n
            for g in groups:
                value = adapter.validate_python(g.merged.value)
                for i in g.layers:
                    layers[i] = value
        for g in groups:
            for i in g.layers:
                merged[i], steps[i] = g.merged, tuple(g.steps)
    return ResolvedStack(
        owner=tuple(owner), name=stack.layers, block_field=stack.block, n_layers_field=stack.n_layers,
        plan_field=stack.plan,
        layers=tuple(ResolvedLayer(i, layers[i], steps[i], merged[i], tuple(owner), stack.block, locate)
                     for i in range(n)),
    )


__all__ = [
    "LayerGroup", "LayerOverride", "LayerPlan", "LayerStack", "PlanIssue", "ResolvedSlot", "Stack", "resolve",
    "resolve_plan", "resolve_stack", "select",
]


def resolve(spec: Any, *, locate: Any = None, found: dict[Any, Any] | None = None) -> ResolvedPlan:
    """Resolve every stack of every :class:`~blockforge.spec.plan.LayerStack` model in ``spec``, once.

    Each stack's result is also stored on its model (``LayerStack.stack_layers`` reads it).

    Args:
        spec: a validated spec.
        locate: ``Document.locate`` for provenance locations, or None.
        found: ``(owner path, stack name) -> (layers, groups)`` already computed by validation.

    Returns:
        The plan.
    """
    from blockforge.spec.contracts import components

    stacks = []
    for path, params in components(spec, ()):
        if not isinstance(params, LayerStack):
            continue
        for stack in type(params).__blockforge_stacks__:
            layers, groups = (found or {}).get((path, stack.layers), (None, None))
            rs = resolve_stack(params, stack, owner=path, locate=locate, layers=layers, groups=groups)
            params.set_resolved(stack, rs)
            stacks.append(rs)
    return ResolvedPlan(tuple(stacks))

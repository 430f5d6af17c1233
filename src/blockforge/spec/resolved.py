"""The resolved plan: every layer of every stack, fully resolved once, with where each value came from.

Validation (:func:`blockforge.spec.validate.validate_document`) resolves each stack's ``plan`` exactly
once and returns the spec with the result attached: ``load_spec(...).plan`` is a :class:`ResolvedPlan`.
Build, the canonical form and hash, ``blockforge plan``, ``diff`` and summaries read it; nothing
resolves again. A built model carries the same object as ``model.blockforge_plan``. Torch-free.

Interface (what later work builds on)::

    spec = blockforge.load_spec("specs/tiny-gemma2.yaml")
    plan = spec.plan                         # ResolvedPlan
    stack = plan.stack("layers")             # ResolvedStack of the model's main stack
    for layer in stack.layers:               # ResolvedLayer, one per layer index
        layer.index, layer.block             # int, the validated (frozen) block parameters
        layer.params                         # the same block as plain JSON-able values
        layer.source(("attention", "window"))  # Provenance: spec path, file:line:col or --set, variant
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blockforge.errors import Location, SpecPath
from blockforge.spec.merge import Merged


@dataclass(frozen=True)
class Provenance:
    """Where one resolved value was written.

    Attributes:
        path: its spec path in the document (e.g. ``("model", "plan", "variants", "local", "attention",
            "window")``; ``("model", "block", ...)`` for a value of the base block).
        location: file:line:col, ``--set`` (with the override as typed in ``location.text``), or None
            when the spec did not come from a document (a spec built in code).
        via: ``"block"`` (the base block), ``"variant"``, ``"pattern"`` (an inline pattern entry) or
            ``"override"`` (a ``plan.overrides`` entry).
        variant: the variant's name when ``via == "variant"``.
    """

    path: SpecPath
    location: Location | None
    via: str
    variant: str | None = None


@dataclass(frozen=True, eq=False)
class ResolvedLayer:
    """One layer of a stack.

    Attributes:
        index: its position in the stack (0-based).
        block: the validated block parameters (a bound, frozen parameter model; layers that resolve
            alike share one object).
        steps: what was merged over the base block, in order, as spec paths relative to the model
            (``("plan", "variants", "local")``, ``("plan", "overrides", 0, "block")``...).
    """

    index: int
    block: Any
    steps: tuple[SpecPath, ...] = ()
    _merged: Merged | None = field(default=None, repr=False)
    _owner: SpecPath = field(default=("model",), repr=False)
    _block_field: str = field(default="block", repr=False)
    _locate: Any = field(default=None, repr=False)

    @property
    def params(self) -> dict[str, Any]:
        """The block as plain JSON-able values (every default filled)."""
        return self.block.model_dump(mode="json")

    def source(self, path: SpecPath) -> Provenance:
        """Where the value at ``path`` (relative to the block, e.g. ``("attention", "heads")``) came from.

        Args:
            path: a path inside this layer's block.

        Returns:
            Its :class:`Provenance`; a default value not written anywhere points at the nearest
            enclosing value that was.
        """
        origin = self._merged.origin(tuple(path)) if self._merged is not None else None
        rel = origin[1] if origin is not None else (self._block_field, *path)
        full = (*self._owner, *rel)
        via, variant = "block", None
        if len(rel) >= 3 and rel[1] == "variants":
            via, variant = "variant", str(rel[2])
        elif len(rel) >= 2 and rel[1] == "pattern":
            via = "pattern"
        elif len(rel) >= 2 and rel[1] == "overrides":
            via = "override"
        location = self._locate(full) if self._locate is not None else None
        return Provenance(full, location, via, variant)


@dataclass(frozen=True, eq=False)
class ResolvedStack:
    """One stack of blocks of a model.

    Attributes:
        owner: the spec path of the model that has the stack (``("model",)``).
        name: the stack's name in the spec hash and ``blockforge plan`` (``"layers"``).
        block_field, n_layers_field, plan_field: the model's field names for the stack (see
            :class:`blockforge.spec.plan.Stack`).
        layers: one :class:`ResolvedLayer` per layer, in order.
    """

    owner: SpecPath
    name: str
    block_field: str
    n_layers_field: str
    plan_field: str
    layers: tuple[ResolvedLayer, ...]

    def blocks(self) -> list[Any]:
        """The validated block of each layer, in order."""
        return [layer.block for layer in self.layers]

    def __len__(self) -> int:
        return len(self.layers)


@dataclass(frozen=True, eq=False)
class ResolvedPlan:
    """Every stack of a validated spec, resolved once (see the module docstring).

    Attributes:
        stacks: every stack of every model in the spec, in spec order.
    """

    stacks: tuple[ResolvedStack, ...] = ()

    def stack(self, name: str = "layers", *, owner: SpecPath = ("model",)) -> ResolvedStack:
        """The stack ``name`` of the model at ``owner``.

        Raises:
            KeyError: no such stack (the message lists the stacks there are).
        """
        for s in self.stacks:
            if s.name == name and tuple(s.owner) == tuple(owner):
                return s
        have = ", ".join(f"{'.'.join(map(str, s.owner))}.{s.name}" for s in self.stacks) or "none"
        raise KeyError(f"no stack {name!r} at {'.'.join(map(str, owner))} (stacks: {have})")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.stacks)


__all__ = ["Provenance", "ResolvedLayer", "ResolvedPlan", "ResolvedStack"]

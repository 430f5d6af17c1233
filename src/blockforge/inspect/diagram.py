"""The architecture of a model as plain data, for pictures: parts, stacks of distinct blocks, wiring.

:func:`diagram` builds a spec on the meta device (or takes a built model), summarises it once, and
returns a :class:`Diagram`: the model's top-level parts in data-flow order; each stack of blocks as
its *distinct* blocks (layers that resolve alike drawn once, with the layers they cover and the
plan's pattern); each block's sublayers with its residual connections and where its norms act (what
the block module declares with ``residuals()``); parameters and forward FLOPs per part. Renderings
(SVG, PNG, Mermaid) are in :mod:`blockforge.figure`; they read only this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from blockforge.inspect.stats import Summary


@dataclass
class Part:
    """One box: a module built from one component.

    Attributes:
        path: its module path in the model (``blocks.0.attention``).
        kind: the component kind (``attention``, ``norm``, ...) or None for other modules.
        component: the registered component name (``mha``), else the module's class name.
        details: the parameters the spec set (defaults left out), as short ``key value`` strings.
        params: parameters of the module (tied tensors once).
        flops: forward FLOPs of the module on the probe input (see :attr:`Diagram.tokens`).
    """

    path: str
    kind: str | None
    component: str
    details: list[str] = field(default_factory=list)
    params: int = 0
    flops: int = 0


@dataclass
class Residual:
    """One residual connection inside a block: ``x = after(x + sum(branch(before(x))))``.

    Attributes:
        branches: the chains of parts summed into the residual (two in a parallel block).
        before: parts applied once before the branches split (a shared norm).
        after: a part applied after the add (post-norm), or None.
    """

    branches: list[list[Part]]
    before: list[Part] = field(default_factory=list)
    after: Part | None = None


@dataclass
class BlockGroup:
    """A distinct block of a stack and the layers that resolve to it.

    Attributes:
        label: its name in the pattern: the plan's variant name when all its layers come from one
            variant, else a letter (``A``, ``B``, ...).
        block: the block as a part (component name, details, parameters and FLOPs of *one* layer).
        layers: the layer indices it covers, in order.
        residuals: the block's wiring, or None when the block does not declare it (then ``sublayers``
            lists its children in order).
        sublayers: the block's children, when ``residuals`` is None.
    """

    label: str
    block: Part
    layers: list[int]
    residuals: list[Residual] | None = None
    sublayers: list[Part] = field(default_factory=list)


@dataclass
class StackPart:
    """A stack of blocks (``blocks``, ``encoder``, ``decoder``).

    Attributes:
        path: the module path of the stack.
        n_layers: how many layers it has.
        groups: its distinct blocks, in order of first appearance.
        pattern: the label of each layer's group, in layer order.
        params: parameters of the whole stack.
        flops: forward FLOPs of the whole stack on the probe input.
    """

    path: str
    n_layers: int
    groups: list[BlockGroup]
    pattern: list[str]
    params: int = 0
    flops: int = 0


@dataclass
class Diagram:
    """A model's architecture for a picture.

    Attributes:
        name: the spec's name.
        model: the model component (``lm``, ``encoder``, ``encoder_decoder``).
        parts: top-level parts and stacks in data-flow order (a top-level module that does nothing,
            ``nn.Identity``/``nn.Dropout`` with nothing to show, is left out).
        total_params: parameters of the model (tied tensors once).
        flops: forward FLOPs of the probe.
        tokens: tokens in the probe (``batch * seq_len``); FLOPs per token are ``flops / tokens``.
        input_shape: the probe's ``(batch, seq_len)``.
    """

    name: str | None
    model: str
    parts: list[Part | StackPart]
    total_params: int
    flops: int
    tokens: int
    input_shape: list[int]


_SKIP = (nn.Identity, nn.Dropout)


def _details(ref: Any, *, nested: bool = True) -> list[str]:
    """``key value`` strings of the parameters a component reference sets (defaults left out); with
    ``nested=False`` without the components it holds (a block's sublayers, drawn on their own)."""
    if ref is None or not hasattr(ref, "model_dump"):
        return []
    out: list[str] = []
    for key, value in ref.model_dump(mode="json", exclude_defaults=True).items():
        if key == "type":
            continue
        if isinstance(value, dict) and not nested:
            continue
        if isinstance(value, dict):  # a nested component: its name (and the first few of its values)
            inner = [f"{k} {v}" for k, v in value.items() if k != "type" and not isinstance(v, dict | list)]
            name = getattr(getattr(ref, key, None), "type", None) or value.get("type", "")
            value = " ".join([str(name), *inner[:2]]).strip()
        elif isinstance(value, bool):
            out.append(key if value else f"no {key}")
            continue
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        out.append(f"{key} {value}")
    return out


def _part(path: str, module: nn.Module, rows: dict[str, Any]) -> Part:
    row = rows.get(path)
    kind = getattr(module, "blockforge_kind", None)
    ref = getattr(module, "blockforge_params", None)
    return Part(
        path=path,
        kind=kind,
        component=getattr(module, "blockforge_name", None) or type(module).__name__,
        details=[*_details(ref, nested=kind not in ("block", "model")),
                 *(["reads the encoder output"] if kind not in ("block", "model")
                   and getattr(type(ref), "attends", None) == "memory" else [])],
        params=row.params if row is not None else 0,
        flops=row.flops if row is not None else 0,
    )


def _shown(module: nn.Module | None) -> bool:
    return module is not None and not isinstance(module, _SKIP)


def _group(label: str, path: str, block: nn.Module, layers: list[int], rows: dict[str, Any]) -> BlockGroup:
    part = _part(path, block, rows)
    declared = getattr(block, "residuals", None)
    if callable(declared):
        def chain(names: tuple[str, ...]) -> list[Part]:
            return [_part(f"{path}.{n}", getattr(block, n), rows) for n in names
                    if _shown(getattr(block, n, None))]

        residuals = [
            Residual(branches=[chain(b) for b in r.branches], before=chain(r.before),
                     after=chain((r.after,))[0] if r.after and _shown(getattr(block, r.after, None)) else None)
            for r in declared()
        ]
        return BlockGroup(label=label, block=part, layers=layers, residuals=residuals)
    subs = [_part(f"{path}.{n}", m, rows) for n, m in block.named_children() if _shown(m)]
    return BlockGroup(label=label, block=part, layers=layers, sublayers=subs)


def _signature(module: nn.Module) -> tuple[Any, ...]:
    """What makes two blocks draw alike when no resolved plan says so: structure and parameter shapes."""
    return tuple((n, type(m).__name__, tuple(p.shape for p in m.parameters(recurse=False)))
                 for n, m in module.named_modules())


def _stack(path: str, modules: nn.ModuleList, resolved: Any, rows: dict[str, Any]) -> StackPart:
    keys: list[Any] = []
    names: dict[Any, set[str | None]] = {}
    for i, block in enumerate(modules):
        if resolved is not None and len(resolved.layers) == len(modules):
            layer = resolved.layers[i]
            key: Any = ("plan", repr(sorted(layer.params.items())))
            variant = next((str(s[2]) for s in layer.steps if len(s) >= 3 and s[:2] == ("plan", "variants")),
                           None)
        else:
            key, variant = ("module", _signature(block)), None
        keys.append(key)
        names.setdefault(key, set()).add(variant)
    order = list(dict.fromkeys(keys))
    labels: dict[Any, str] = {}
    used: set[str] = set()
    letters = (chr(c) for c in range(ord("A"), ord("Z") + 1))
    for n, key in enumerate(order):
        variants = names[key]
        one = next(iter(variants)) if len(variants) == 1 else None
        label = one if one and one not in used else next(letters, f"block{n}")
        labels[key] = label
        used.add(label)
    groups = []
    for key in order:
        layers = [i for i, k in enumerate(keys) if k == key]
        groups.append(_group(labels[key], f"{path}.{layers[0]}", modules[layers[0]], layers, rows))
    row = rows.get(path)
    return StackPart(path=path, n_layers=len(modules), groups=groups, pattern=[labels[k] for k in keys],
                     params=row.params if row is not None else 0, flops=row.flops if row is not None else 0)


def diagram(model: nn.Module, summary: Summary) -> Diagram:
    """The architecture of a built model (any device, meta included) and its summary.

    Args:
        model: a model built by blockforge (``model.blockforge_plan`` names the distinct layers; without
            it, layers alike in structure and parameter shapes are drawn once).
        summary: :func:`blockforge.inspect.summarize` of the same model (parameters and FLOPs per part).

    Returns:
        The :class:`Diagram`.
    """
    rows = {r.name: r for r in summary.rows}
    plan = getattr(model, "blockforge_plan", None)
    stacks = list(plan.stacks) if plan is not None else []
    parts: list[Part | StackPart] = []
    for name, child in model.named_children():
        is_stack = isinstance(child, nn.ModuleList) and len(child) and all(
            getattr(m, "blockforge_kind", None) == "block" or hasattr(m, "residuals") for m in child)
        if is_stack:
            parts.append(_stack(name, child, stacks.pop(0) if stacks else None, rows))
        elif _shown(child) and (sum(1 for _ in child.parameters()) or getattr(child, "blockforge_kind", None)):
            parts.append(_part(name, child, rows))
    return Diagram(
        name=summary.name,
        model=getattr(model, "blockforge_name", None) or type(model).__name__,
        parts=parts,
        total_params=summary.total_params,
        flops=summary.flops.forward if summary.flops else 0,
        tokens=summary.flops.tokens if summary.flops else summary.input_shape[0] * summary.input_shape[1],
        input_shape=list(summary.input_shape),
    )


__all__ = ["BlockGroup", "Diagram", "Part", "Residual", "StackPart", "diagram"]

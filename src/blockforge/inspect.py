"""One statistics object per model; tables, JSON and markdown are renderings of it.

Everything here runs on the meta device: no weights are allocated, so any size can be inspected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from blockforge.spec import SpecSource


@dataclass
class ModuleRow:
    """One module of the tree.

    Attributes:
        name: dotted module path (``blocks.0.attention``); ``""`` for the root.
        type: the module's class name.
        depth: nesting depth (root is 0).
        output_shape: shape of the module's (first) tensor output on the probe input, if it ran.
        params: parameters in this module's subtree, each tensor counted once.
        trainable: the trainable part of ``params``.
    """

    name: str
    type: str
    depth: int
    output_shape: list[int] | None
    params: int
    trainable: int


@dataclass
class Summary:
    """Statistics of a built model.

    Attributes:
        name: the spec's name.
        spec_hash: the canonical spec's hash.
        input_shape: the ``(batch, seq_len)`` the shapes were probed with.
        rows: the module tree, in definition order.
        total_params: unique parameter elements (tied tensors counted once).
        trainable_params: unique trainable parameter elements.
        bytes_by_dtype: parameter bytes per dtype name.
    """

    name: str | None
    spec_hash: str | None
    input_shape: list[int]
    rows: list[ModuleRow]
    total_params: int
    trainable_params: int
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_dtype.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--format json``."""
        return {
            "name": self.name,
            "spec_hash": self.spec_hash,
            "input_shape": self.input_shape,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "bytes_by_dtype": dict(self.bytes_by_dtype),
            "total_bytes": self.total_bytes,
            "modules": [asdict(r) for r in self.rows],
        }


def _unique_params(module: nn.Module) -> list[nn.Parameter]:
    return list(module.parameters())  # already de-duplicated by identity


def _shape(out: Any) -> list[int] | None:
    if isinstance(out, torch.Tensor):
        return list(out.shape)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return list(out[0].shape)
    return None


def summarize(
    spec_or_model: SpecSource | nn.Module = None,
    *,
    batch: int = 1,
    seq_len: int | None = None,
    registries: Any = None,
) -> Summary:
    """Summarise a spec (built on the meta device) or an already built model.

    Args:
        spec_or_model: a spec source (path, mapping, validated spec, None for the default) or a model.
        batch: batch size of the probe input.
        seq_len: sequence length of the probe input; defaults to the model's ``max_len``.
        registries: registries to build a spec with.

    Returns:
        The statistics object.

    Raises:
        SpecError: an invalid spec.
        ValueError: a probe length beyond ``max_len``.
    """
    if isinstance(spec_or_model, nn.Module):
        model = spec_or_model
    else:
        from blockforge.build import build_model

        model = build_model(spec_or_model, device="meta", registries=registries)
    max_len = getattr(model, "max_len", None)
    seq = seq_len if seq_len is not None else (max_len or 16)
    if max_len is not None and seq > max_len:
        raise ValueError(f"seq_len={seq} exceeds the model's max_len={max_len}")

    shapes: dict[str, list[int] | None] = {}
    handles = []
    for name, mod in model.named_modules():
        handles.append(mod.register_forward_hook(lambda m, i, o, _n=name: shapes.__setitem__(_n, _shape(o))))
    try:
        device = next((p.device for p in model.parameters()), torch.device("meta"))
        with torch.no_grad():
            model(torch.zeros(batch, seq, dtype=torch.long, device=device))
    finally:
        for h in handles:
            h.remove()

    rows: list[ModuleRow] = []
    for name, mod in model.named_modules():
        params = _unique_params(mod)
        rows.append(
            ModuleRow(
                name=name,
                type=type(mod).__name__,
                depth=0 if not name else name.count(".") + 1,
                output_shape=shapes.get(name),
                params=sum(p.numel() for p in params),
                trainable=sum(p.numel() for p in params if p.requires_grad),
            )
        )
    unique = _unique_params(model)
    by_dtype: Counter[str] = Counter()
    for p in unique:
        by_dtype[str(p.dtype).removeprefix("torch.")] += p.numel() * p.element_size()
    spec = getattr(model, "blockforge_spec", None) or {}
    return Summary(
        name=spec.get("name"),
        spec_hash=getattr(model, "blockforge_hash", None),
        input_shape=[batch, seq],
        rows=rows,
        total_params=sum(p.numel() for p in unique),
        trainable_params=sum(p.numel() for p in unique if p.requires_grad),
        bytes_by_dtype=dict(by_dtype),
    )


__all__ = ["ModuleRow", "Summary", "summarize"]

"""``summarize``: build (on meta) or take a model, probe it once, and gather one :class:`Summary`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from blockforge.inspect.kinds import kind_roots, module_kinds, ordered, owner_kind
from blockforge.inspect.probe import probe
from blockforge.inspect.stats import FlopStats, KindTotal, MemoryStats, ModuleRow, Summary
from blockforge.spec import SpecSource


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def summarize(
    spec_or_model: SpecSource | nn.Module = None,
    *,
    batch: int = 1,
    seq_len: int | None = None,
    registries: Any = None,
) -> Summary:
    """Summarise a spec (built on the meta device, nothing allocated) or an already built model.

    One training step on a ``batch x seq_len`` probe of token ids gives the output shapes, the FLOPs
    (forward and forward + backward) and the activations saved for backward.

    Args:
        spec_or_model: a spec source (path, mapping, validated spec, None for the default) or a model
            that maps ``(B, T)`` token ids to ``(B, T, V)`` logits.
        batch: batch size of the probe.
        seq_len: sequence length of the probe; defaults to the model's ``max_len``.
        registries: registries to build a spec with.

    Returns:
        The statistics object.

    Raises:
        SpecError: an invalid spec.
        ValueError: a probe length beyond ``max_len``, or a batch or length below 1.
    """
    if isinstance(spec_or_model, nn.Module):
        model = spec_or_model
    else:
        from blockforge.build import build_model

        model = build_model(spec_or_model, device="meta", registries=registries)
    max_len = getattr(model, "max_len", None)
    seq = seq_len if seq_len is not None else (max_len or 16)
    if batch < 1 or seq < 1:
        raise ValueError(f"batch and seq_len must be at least 1, got batch={batch}, seq_len={seq}")
    if max_len is not None and seq > max_len:
        raise ValueError(f"seq_len={seq} exceeds the model's max_len={max_len}")

    device = next((p.device for p in model.parameters()), torch.device("meta"))
    measured = probe(model, torch.zeros(batch, seq, dtype=torch.long, device=device))

    kinds = module_kinds(model)
    roots = kind_roots(kinds)
    rows: list[ModuleRow] = []
    for name, mod in model.named_modules():
        params = list(mod.parameters())  # de-duplicated by identity
        rows.append(
            ModuleRow(
                name=name,
                type=type(mod).__name__,
                kind=kinds.get(name),
                depth=0 if not name else name.count(".") + 1,
                output_shape=measured.shapes.get(name),
                params=sum(p.numel() for p in params),
                trainable=sum(p.numel() for p in params if p.requires_grad),
                flops=measured.module_flops.get(name, 0),
            )
        )

    children: dict[str, list[ModuleRow]] = {}
    for r in rows[1:]:
        children.setdefault(r.name.rsplit(".", 1)[0] if "." in r.name else "", []).append(r)
    for r in reversed(rows):  # containers that are never called (ModuleList) total their children
        if r.name and r.name not in measured.module_flops:
            r.flops = sum(c.flops for c in children.get(r.name, []))

    unique = list(model.named_parameters())  # first owner of each tensor
    by_dtype: Counter[str] = Counter()
    per_kind: dict[str, KindTotal] = {}
    for pname, p in unique:
        by_dtype[str(p.dtype).removeprefix("torch.")] += _nbytes(p)
        owner = pname.rsplit(".", 1)[0] if "." in pname else ""
        per_kind.setdefault(owner_kind(owner, roots), KindTotal()).params += p.numel()
    for name, kind in roots.items():
        per_kind.setdefault(kind, KindTotal()).flops += measured.module_flops.get(name, 0)
    rest = measured.forward - sum(k.flops for k in per_kind.values())
    if rest:
        per_kind.setdefault("other", KindTotal()).flops += rest

    trainable_bytes = sum(_nbytes(p) for _, p in unique if p.requires_grad)
    memory = MemoryStats(
        weights=sum(by_dtype.values()),
        buffers=sum(_nbytes(b) for b in model.buffers()),
        gradients=trainable_bytes,
        optimizer=2 * trainable_bytes,
        activations=measured.activations,
        kv_cache_per_token=measured.kv_bytes_per_token if measured.causal_calls else None,
    )
    spec = getattr(model, "blockforge_spec", None) or {}
    return Summary(
        name=spec.get("name"),
        spec_hash=getattr(model, "blockforge_hash", None),
        input_shape=[batch, seq],
        rows=rows,
        total_params=sum(p.numel() for _, p in unique),
        trainable_params=sum(p.numel() for _, p in unique if p.requires_grad),
        bytes_by_dtype=dict(by_dtype),
        flops=FlopStats(forward=measured.forward, forward_backward=measured.forward_backward,
                        tokens=batch * seq),
        memory=memory,
        kinds={k: per_kind[k] for k in ordered(set(per_kind))},
        notes=list(getattr(model, "blockforge_notes", ())),
    )


__all__ = ["summarize"]

"""One training step on a probe batch, measured at the dispatch level: shapes, FLOPs, saved tensors.

The probe runs wherever the model lives; on the ``meta`` device nothing is allocated, so a 70B model
is measured in seconds. Attention is routed through one fused kernel on meta and CPU so that the FLOPs
and the saved tensors do not depend on which kernel torch would pick there; recurrent layers run as one
batched pass with the matmuls of the step-by-step recurrence (:mod:`blockforge.inspect.recurrent`), on
every device, so a summary of a spec (meta) and of the model built from it (CPU) agree. torch's Python
meta kernels run without importing ``torch._dynamo`` (:mod:`blockforge.inspect.eager`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from blockforge.inspect.eager import eager_meta_kernels
from blockforge.inspect.recurrent import BatchedRecurrence

aten = torch.ops.aten


def _sdpa_forward_flop(q_shape, k_shape, v_shape, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return sdpa_flop_count(q_shape, k_shape, v_shape)


def _sdpa_backward_flop(g_shape, q_shape, k_shape, v_shape, *args: Any, out_shape: Any = None, **kw: Any) -> int:
    # dS = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q: twice the forward's two matmuls.
    return 2 * sdpa_flop_count(q_shape, k_shape, v_shape)


#: Formulas for the fused attention kernels torch's counter misses (CPU) or counts with recomputation.
FLOP_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_forward_flop,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_backward_flop,
    aten._scaled_dot_product_flash_attention_backward: _sdpa_backward_flop,
    aten._scaled_dot_product_efficient_attention_backward: _sdpa_backward_flop,
    aten._scaled_dot_product_cudnn_attention_backward: _sdpa_backward_flop,
}


class FusedAttention(TorchFunctionMode):
    """Routes ``scaled_dot_product_attention`` on meta/CPU tensors through the fused flash kernel,
    and records the K/V each causal call would cache.

    On meta, torch would otherwise pick the math path (saving the ``T x T`` matrix); on CPU it picks
    flash or math depending on dropout and masks. Dropout inside the kernel saves no mask (flash
    kernels keep the RNG state), so the fused call runs with ``dropout_p=0``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.kv_bytes_per_token = 0
        self.causal_calls = 0
        self.declared_depth = 0  # > 0 inside a module that states its own cache (see declared_kv_cache)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return self._sdpa(*args, **kwargs)
        return func(*args, **kwargs)

    def _sdpa(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        attn_mask: Tensor | None = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale: float | None = None,
        enable_gqa: bool = False,
    ) -> Tensor:
        if is_causal and k.dim() == 4 and not self.declared_depth:
            # (B, Hkv, T, D): one K and one V row of Hkv x D per token and layer, before any GQA repeat.
            self.causal_calls += 1
            self.kv_bytes_per_token += (k.shape[1] * k.shape[3] * k.element_size()
                                        + v.shape[1] * v.shape[3] * v.element_size())
        if q.device.type not in ("meta", "cpu") or q.dim() != 4:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                                  is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
        # Grouped-query K/V (B, Hkv, S, D) go in as they are: the fused kernel broadcasts the groups.
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).masked_fill(
                ~attn_mask, float("-inf"))
        out, _lse = aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, is_causal, attn_mask=attn_mask, scale=scale)
        return out  # (B, H, T, D)


@contextmanager
def declared_kv_cache(model: nn.Module, fused: FusedAttention) -> Iterator[None]:
    """Count the KV cache of modules that state it (``kv_cache_per_token() -> elements``).

    Such a module's own attention calls are not guessed from (a windowed, ALiBi or soft-capped causal
    attention calls the kernel without ``is_causal``); a plugin module without the method is still
    counted from its causal ``scaled_dot_product_attention`` calls.
    """
    def enter(_m: nn.Module, _args: Any) -> None:
        fused.declared_depth += 1

    def leave(m: nn.Module, _args: Any, out: Any) -> None:
        fused.declared_depth -= 1
        elements = m.kv_cache_per_token()  # type: ignore[operator]
        if elements:
            fused.causal_calls += 1
            fused.kv_bytes_per_token += elements * _first_tensor(out).element_size()

    handles = []
    for m in model.modules():
        if callable(getattr(m, "kv_cache_per_token", None)):
            handles += [m.register_forward_pre_hook(enter), m.register_forward_hook(leave)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@dataclass
class Probe:
    """What one probed training step measured.

    Attributes:
        shapes: module name -> output shape of its first call.
        module_flops: module name -> forward FLOPs of its subtree.
        forward: forward FLOPs.
        forward_backward: forward + backward FLOPs.
        activations: bytes of the unique non-parameter storages saved for backward.
        kv_bytes_per_token: K/V bytes per token of causal attention calls (0 if none).
        causal_calls: number of causal attention calls.
    """

    shapes: dict[str, list[int] | None] = field(default_factory=dict)
    module_flops: dict[str, int] = field(default_factory=dict)
    forward: int = 0
    forward_backward: int = 0
    activations: int = 0
    kv_bytes_per_token: int = 0
    causal_calls: int = 0


def _shape(out: Any) -> list[int] | None:
    if isinstance(out, torch.Tensor):
        return list(out.shape)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return list(out[0].shape)
    return None


@contextmanager
def _shape_hooks(model: nn.Module, shapes: dict[str, list[int] | None]) -> Iterator[None]:
    def record(name: str):
        def hook(_m: nn.Module, _i: Any, o: Any) -> None:
            shapes.setdefault(name, _shape(o))
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _first_tensor(out: Any) -> Tensor:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    raise TypeError(f"the model returned {type(out).__name__}, not a tensor; cannot probe it")


def _loss(out: Tensor) -> Tensor:
    """Cross-entropy over the last dimension (class 0 as target), as training a classifier or LM would."""
    if out.dim() < 2 or not out.is_floating_point():
        return out.float().sum()
    targets = torch.zeros(out.shape[:-1].numel(), dtype=torch.long, device=out.device)
    return F.cross_entropy(out.flatten(0, -2), targets)


def _storage_key(t: Tensor) -> tuple[int, int]:
    s = t.untyped_storage()
    return s._cdata, s.nbytes()


def _run(model: nn.Module, ids: Tensor) -> Probe:
    """One measured training step on the whole model (see :func:`probe`)."""
    result = Probe()
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    param_storages = {_storage_key(p)[0] for p in params}
    saved: dict[int, int] = {}
    keep: list[Tensor] = []  # holds saved tensors so storage ids are not reused while counting

    def pack(t: Tensor) -> Tensor:
        key, nbytes = _storage_key(t)
        if key not in param_storages:
            saved.setdefault(key, nbytes)
            keep.append(t)
        return t

    root = type(model).__name__
    was_training = model.training
    fused = FusedAttention()
    counter = FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS)
    devices = [ids.device] if ids.device.type == "cuda" else []
    try:
        model.train()
        with (eager_meta_kernels(), torch.random.fork_rng(devices=devices), torch.enable_grad(), fused,
              BatchedRecurrence(), counter):
            with (_shape_hooks(model, result.shapes), declared_kv_cache(model, fused),
                  torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)):
                logits = _first_tensor(model(ids))  # (B, T, V) logits, (B, K) classes, (B, T, C) states
                loss = _loss(logits)
            result.forward = counter.get_total_flops()
            for mod, ops in counter.get_flop_counts().items():
                if mod == root or mod.startswith(root + "."):
                    result.module_flops[mod[len(root) + 1:]] = sum(ops.values())
            result.activations = sum(saved.values())
            keep.clear()
            if trainable or loss.requires_grad:
                torch.autograd.grad(loss, trainable or [logits], allow_unused=True)
            result.forward_backward = counter.get_total_flops()
    finally:
        model.train(was_training)
    result.kv_bytes_per_token = fused.kv_bytes_per_token
    result.causal_calls = fused.causal_calls
    return result


_PLAIN = (int, float, str, bool, type(None))


def _signature(module: nn.Module) -> tuple:
    """Everything that decides what a module computes on a given input shape, but its weights' values:
    module types, plain attributes (a layer index, a window), parameter and buffer shapes and dtypes."""
    return tuple(
        (
            name,
            type(sub),
            tuple(sorted((k, v) for k, v in vars(sub).items() if not k.startswith("_") and isinstance(v, _PLAIN))),
            tuple((n, tuple(p.shape), p.dtype, p.requires_grad) for n, p in sub.named_parameters(recurse=False)),
            tuple((n, tuple(b.shape), b.dtype) for n, b in sub.named_buffers(recurse=False)),
        )
        for name, sub in module.named_modules()
    )


def repeated_stacks(model: nn.Module) -> dict[str, nn.ModuleList]:
    """Stacks of three or more structurally identical layers: ``nn.ModuleList``s of modules the builder
    made as ``block`` components (a list of MoE experts is not a stack: it is not run in sequence)."""
    stacks = {}
    for name, mod in model.named_modules():
        if (isinstance(mod, nn.ModuleList) and len(mod) >= 3 and not any(name.startswith(s + ".") for s in stacks)
                and all(getattr(m, "blockforge_kind", None) == "block" for m in mod)):
            first = _signature(mod[0])
            if all(_signature(m) == first for m in list(mod)[1:]):
                stacks[name] = mod
    return stacks


@contextmanager
def _truncated(stacks: dict[str, nn.ModuleList], keep: dict[str, int]) -> Iterator[None]:
    saved = {name: ml._modules for name, ml in stacks.items()}
    try:
        for name, ml in stacks.items():
            ml._modules = dict(list(saved[name].items())[: keep[name]])
        yield
    finally:
        for name, ml in stacks.items():
            ml._modules = saved[name]


def _layer_name(name: str, stack: str, index: int) -> str | None:
    """``blocks.1.attention`` -> ``blocks.{index}.attention`` when ``name`` is inside layer 1 of ``stack``."""
    prefix = f"{stack}.1" if stack else "1"
    if name == prefix or name.startswith(prefix + "."):
        return f"{stack + '.' if stack else ''}{index}{name[len(prefix):]}"
    return None


def probe(model: nn.Module, ids: Tensor, *, fold_repeats: bool = True) -> Probe:
    """Run one training step (forward, cross-entropy, backward) on ``ids`` and measure it.

    The model is left as it was: its training flag is restored, no ``.grad`` is written (gradients
    come from ``torch.autograd.grad``) and the global RNG is untouched.

    A stack of ``n`` structurally identical layers (see :func:`repeated_stacks`) is measured with one
    layer and with two: layer 0 may differ (its input may not need a gradient), every later layer does
    the work of layer 1, so a total is ``Q(1) + (n - 1) * (Q(2) - Q(1))`` — exact, and an 80-layer
    model costs three layers of dispatch instead of eighty.

    Args:
        model: token ids -> logits ``(B, T, V)``.
        ids: ``(B, T)`` token ids on the model's device.
        fold_repeats: measure repeated layers once (exact); False runs every layer.

    Returns:
        The measurements.
    """
    stacks = repeated_stacks(model) if fold_repeats else {}
    if not stacks:
        return _run(model, ids)
    try:
        return _folded(model, ids, stacks)
    except Exception:  # noqa: BLE001 - a model that needs all its layers is measured whole
        return _run(model, ids)


def _folded(model: nn.Module, ids: Tensor, stacks: dict[str, nn.ModuleList]) -> Probe:
    ones = dict.fromkeys(stacks, 1)
    with _truncated(stacks, ones):
        base = _run(model, ids)
    result = Probe(shapes=dict(base.shapes), module_flops=dict(base.module_flops), forward=base.forward,
                   forward_backward=base.forward_backward, activations=base.activations,
                   kv_bytes_per_token=base.kv_bytes_per_token, causal_calls=base.causal_calls)
    for stack, ml in stacks.items():
        n = len(ml)
        with _truncated(stacks, {**ones, stack: 2}):
            two = _run(model, ids)
        for attr in ("forward", "forward_backward", "activations", "kv_bytes_per_token", "causal_calls"):
            setattr(result, attr, getattr(result, attr) + (n - 1) * (getattr(two, attr) - getattr(base, attr)))
        for name, flops in base.module_flops.items():  # ancestors of the stack grow with it
            result.module_flops[name] += (n - 1) * (two.module_flops.get(name, 0) - flops)
        for index in range(1, n):
            for name, shape in two.shapes.items():
                if (target := _layer_name(name, stack, index)) is not None:
                    result.shapes[target] = shape
            for name, flops in two.module_flops.items():
                if (target := _layer_name(name, stack, index)) is not None:
                    result.module_flops[target] = flops
    return result


__all__ = ["FLOP_FORMULAS", "FusedAttention", "Probe", "declared_kv_cache", "probe", "repeated_stacks"]

"""What a model keeps between decoding steps (incremental decoding with a cache).

The model owns a :class:`ModelCache` for one generation: one :class:`BlockCache` per block, each with a
:class:`MixerCache` slot for its sequence mixer and one for its cross-attention. A slot's ``state`` belongs
to the mixer that fills it (attention: a :class:`KVState`; LSTM/GRU: their recurrent state), so the model
and blocks only carry slots around.

Declaring support: a mixer or block that accepts ``cache=`` has ``supports_cache = True`` (a class
attribute, or a property when it depends on the instance, as for attention: only causal attention can
decode incrementally). Callers (``blockforge.generate``) ask :func:`cache_unsupported` before using a
cache, and recompute the whole context otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class KVState:
    """Attention's cache: keys and values of the positions seen so far, and which of them are tokens.

    Attributes:
        k: ``(B, KV, Tk, D)`` keys (after QK-norm and RoPE).
        v: ``(B, KV, Tk, Dv)`` values.
        keep: ``(B, Tk)`` bool, True for a token, False for padding.
    """

    k: Tensor
    v: Tensor
    keep: Tensor


@dataclass
class MixerCache:
    """One mixer's slot; ``state`` is the mixer's own (None before its first call).

    Attributes:
        state: what the mixer keeps.
        capacity: positions to preallocate for keys and values (a static cache), or None to grow the
            cache step by step (a dynamic cache; rolling under a sliding window).
    """

    state: object | None = None
    capacity: int | None = None


@dataclass
class _StaticKV:
    """A preallocated key/value buffer ``(B, KV, capacity, D)`` and how much of it is filled."""

    k: Tensor
    v: Tensor
    keep: Tensor
    length: int


@dataclass
class BlockCache:
    """The slots of one block: its sequence mixer and, in an encoder-decoder's decoder, its cross-attention."""

    mixer: MixerCache = field(default_factory=MixerCache)
    cross: MixerCache = field(default_factory=MixerCache)


class ModelCache:
    """Everything one generation keeps: per-block slots, how far each row has got, an encoder's output.

    Args:
        n_blocks: number of blocks (of the decoder stack, for an encoder-decoder model).
        capacity: preallocate keys and values for this many positions (a static cache: no reallocation
            per step, but memory for the whole length up front and no rolling window); None = dynamic.

    Attributes:
        blocks: one :class:`BlockCache` per block.
        seen: columns (positions of the padded batch) processed so far.
        lengths: ``(B,)`` real tokens processed so far per row (None before the first call).
        memory: an encoder-decoder's encoder output ``(B, S, C)``, computed once; or None.
        memory_mask: its ``(B, S)`` padding mask, or None.
    """

    def __init__(self, n_blocks: int, *, capacity: int | None = None) -> None:
        self.blocks = [BlockCache(mixer=MixerCache(capacity=capacity)) for _ in range(n_blocks)]
        self.seen = 0
        self.lengths: Tensor | None = None
        self.memory: Tensor | None = None
        self.memory_mask: Tensor | None = None

    def next_positions(self, mask: Tensor | None, batch: int, t: int, device: torch.device) -> Tensor:
        """Positions of the next ``t`` columns (``(B, T)``), continuing each row's count of real tokens,
        and advance the count.

        Args:
            mask: ``(B, T)`` 1 for a token, 0 for padding, or None (all tokens).
            batch: ``B``.
            t: ``T``.
            device: where the positions go.
        """
        from blockforge.components.positional import positions_from_mask

        if mask is None:
            mask = torch.ones(batch, t, dtype=torch.long, device=device)
        if self.lengths is None:
            self.lengths = torch.zeros(batch, dtype=torch.long, device=device)
        pos = positions_from_mask(mask, self.lengths)  # (B, T)
        self.lengths = self.lengths + mask.long().sum(-1)
        return pos

    def numel(self) -> int:
        """Elements held by the attention caches (keys and values), for memory accounting."""
        total = 0
        for block in self.blocks:
            for slot in (block.mixer, block.cross):
                if isinstance(slot.state, (KVState, _StaticKV)):
                    total += slot.state.k.numel() + slot.state.v.numel()
        return total


def append_kv(cache: MixerCache, k: Tensor, v: Tensor, keep: Tensor, *, window: int | None) -> KVState:
    """Append new keys and values to an attention cache; return all keys this step attends to.

    With a sliding ``window`` the cache is rolling: after the step it holds only the last ``window``
    positions (the only ones a later query can see); this step still sees every new key.

    Args:
        cache: the attention's slot (its ``state`` is a :class:`KVState` or None).
        k: ``(B, KV, T, D)`` new keys.
        v: ``(B, KV, T, Dv)`` new values.
        keep: ``(B, T)`` bool, True for the new tokens that are not padding.
        window: the sliding window, or None.

    Returns:
        The :class:`KVState` with the cached and the new positions, ``Tk = cached + T``.
    """
    old = cache.state
    if cache.capacity is not None:
        return _append_static(cache, k, v, keep)
    if isinstance(old, KVState):
        full = KVState(torch.cat((old.k, k), dim=2), torch.cat((old.v, v), dim=2), torch.cat((old.keep, keep), 1))
    else:
        full = KVState(k, v, keep)
    if window is not None and full.k.shape[2] > window:
        cache.state = KVState(full.k[:, :, -window:], full.v[:, :, -window:], full.keep[:, -window:])
    else:
        cache.state = full
    return full


def _append_static(cache: MixerCache, k: Tensor, v: Tensor, keep: Tensor) -> KVState:
    """:func:`append_kv` into a preallocated buffer; returns views of the filled part."""
    buf = cache.state
    b, kv, t, _ = k.shape
    if not isinstance(buf, _StaticKV):
        cap = int(cache.capacity)  # type: ignore[arg-type]
        buf = _StaticKV(k.new_empty(b, kv, cap, k.shape[-1]), v.new_empty(b, kv, cap, v.shape[-1]),
                        keep.new_zeros(b, cap), 0)
        cache.state = buf
    end = buf.length + t
    if end > buf.k.shape[2]:
        raise ValueError(f"the static cache holds {buf.k.shape[2]} positions; {end} were asked for")
    buf.k[:, :, buf.length:end] = k
    buf.v[:, :, buf.length:end] = v
    buf.keep[:, buf.length:end] = keep
    buf.length = end
    return KVState(buf.k[:, :, :end], buf.v[:, :, :end], buf.keep[:, :end])


def cache_unsupported(stack: nn.Module, prefix: str = "") -> list[str]:
    """Names of the blocks and mixers of a decoding stack that cannot decode with a cache (empty: all can).

    Asks each module that the builder tagged as a block or an attention component for ``supports_cache``
    (missing = False).

    Args:
        stack: the blocks that run while decoding (``model.cache_blocks``).
        prefix: the stack's name in its model, for the names returned.
    """
    return [
        f"{name} ({type(m).__name__})"
        for name, m in stack.named_modules(prefix=prefix)
        if getattr(m, "blockforge_kind", None) in ("block", "attention") and not getattr(m, "supports_cache", False)
    ]


__all__ = ["BlockCache", "KVState", "MixerCache", "ModelCache", "append_kv", "cache_unsupported"]

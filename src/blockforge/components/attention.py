"""Attention modules. The math runs through ``torch.nn.functional.scaled_dot_product_attention``.

One function, :func:`attend`, does the attention of every module here; the modules differ in where
queries, keys and values come from. Features and the kernel path they need:

- causal, padding, sliding window: a boolean mask (or ``is_causal`` when causality is the only mask).
- grouped-query / multi-query (``kv_heads < heads``): SDPA's ``enable_gqa``; K and V are never repeated.
- ALiBi: an additive float ``attn_mask`` for SDPA (no ``is_causal`` fast path, no flash kernel).
- logit soft-cap (``cap * tanh(s / cap)``) is a nonlinear score modification that SDPA cannot express:
  it forces the explicit math path below (still without repeating K/V: grouped heads broadcast).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from blockforge.components.cache import KVState, MixerCache, append_kv
from blockforge.components.masks import build_mask


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    keep: Tensor | None,
    bias: Tensor | None,
    is_causal: bool,
    scale: float,
    softcap: float | None,
    dropout: float,
) -> Tensor:
    """Scaled dot-product attention with grouped heads, an optional score bias and soft-cap.

    Args:
        q: ``(B, H, Tq, D)`` queries.
        k: ``(B, KV, Tk, D)`` keys; ``KV`` divides ``H``.
        v: ``(B, KV, Tk, Dv)`` values.
        keep: bool mask broadcastable to ``(B, 1, Tq, Tk)``, True = may attend; or None.
        bias: additive float score bias ``(H, Tq, Tk)`` or ``(B|1, H, Tq, Tk)`` (ALiBi, possibly with ``-inf``
            where a mask was folded in); or None.
        is_causal: causal masking without an explicit mask (only when ``keep`` and ``bias`` are None).
        scale: the score scale (usually ``D ** -0.5``).
        softcap: ``cap`` of ``cap * tanh(scores / cap)``, or None.
        dropout: dropout probability on the attention weights (pass 0 in eval).

    Returns:
        ``(B, H, Tq, Dv)``.
    """
    h, kv = q.shape[1], k.shape[1]
    if softcap is None:
        mask: Tensor | None = keep
        if bias is not None:
            mask = bias if keep is None else bias.masked_fill(~keep, float("-inf"))  # (B|1, H, Tq, Tk)
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal and mask is None,
            scale=scale, enable_gqa=h != kv,
        )  # (B, H, Tq, Dv)
    # Math path (soft-cap). Group the query heads so K/V broadcast instead of being repeated.
    b, _, tq, d = q.shape
    g = h // kv
    qg = q.reshape(b, kv, g, tq, d)  # (B, KV, G, Tq, D)
    scores = qg @ k.unsqueeze(2).transpose(-2, -1) * scale  # (B, KV, G, Tq, Tk)
    scores = softcap * torch.tanh(scores / softcap)
    if bias is not None:
        scores = scores + bias.reshape(-1, kv, g, tq, bias.shape[-1])  # (B|1, KV, G, Tq, Tk)
    if is_causal and keep is None:
        tk = k.shape[2]
        keep = torch.ones(1, 1, tq, tk, dtype=torch.bool, device=q.device).tril()  # (1, 1, Tq, Tk)
    if keep is not None:
        scores = scores.masked_fill(~keep.unsqueeze(2), float("-inf"))  # keep -> (B|1, 1, 1, Tq, Tk)
    softmax_dtype = torch.promote_types(scores.dtype, torch.float32)  # upcast half precision, keep float64
    weights = torch.softmax(scores, dim=-1, dtype=softmax_dtype).to(q.dtype)  # (B, KV, G, Tq, Tk)
    weights = F.dropout(weights, p=dropout)
    out = weights @ v.unsqueeze(2)  # (B, KV, G, Tq, Dv)
    return out.reshape(b, h, tq, v.shape[-1])  # (B, H, Tq, Dv)


def head_sizes(*, d_model: int, heads: int, kv_heads: int | None, head_dim: int | None) -> tuple[int, int]:
    """Check and complete the head sizes every attention module here takes.

    Args:
        d_model: width of the input and output.
        heads: number of query heads.
        kv_heads: number of key/value heads, or None for ``heads``.
        head_dim: width of each head, or None for ``d_model // heads``.

    Returns:
        ``(kv_heads, head_dim)`` with the defaults filled in.

    Raises:
        ValueError: a non-positive size, ``heads`` not dividing ``d_model`` without ``head_dim``, or
            ``kv_heads`` not dividing ``heads``.
    """
    kv_heads = heads if kv_heads is None else kv_heads
    if d_model <= 0 or heads <= 0 or kv_heads <= 0 or (head_dim is not None and head_dim <= 0):
        raise ValueError(f"d_model, heads, kv_heads and head_dim must be positive, got {d_model}, {heads}, "
                         f"{kv_heads}, {head_dim}")
    if head_dim is None and d_model % heads:
        raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
    if heads % kv_heads:
        raise ValueError(f"kv_heads={kv_heads} does not divide heads={heads}")
    return kv_heads, d_model // heads if head_dim is None else head_dim


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention with optional grouped-query heads, sliding window, QK-norm and soft-cap.

    State-dict layout (docs/layout.md): ``qkv`` (fused, rows ``[q; k; v]``) when ``kv_heads == heads``,
    else ``q`` and ``kv`` (rows ``[k; v]``); ``out``; ``q_norm`` / ``k_norm`` when given.

    Args:
        d_model: width of the input and output.
        heads: number of query heads.
        kv_heads: number of key/value heads (divides ``heads``; 1 is multi-query); None = ``heads``.
        head_dim: width of each head; None = ``d_model // heads``.
        bias: add biases to the input projections.
        out_bias: add a bias to the output projection; None = ``bias``.
        causal: forbid attending to later positions.
        window: sliding window: each query sees at most ``window`` keys (itself included); None = all.
        softcap: attention logit soft-cap ``cap * tanh(s / cap)`` (forces the math path); None = off.
        scale: the score scale; None = ``head_dim ** -0.5``.
        q_norm: a norm of width ``head_dim`` applied to each query head (QK-norm), or None.
        k_norm: likewise for keys, or None.
        qk_norm_scope: ``head`` (norms of width ``head_dim``, per head), or ``all`` (OLMo 2: ``q_norm``
            of width ``heads * head_dim`` on the whole query projection, ``k_norm`` of width
            ``kv_heads * head_dim`` on the key projection).
        dropout: dropout on the attention weights (training only).

    Raises:
        ValueError: for sizes that do not fit (``heads`` not dividing ``d_model`` without ``head_dim``,
            ``kv_heads`` not dividing ``heads``, non-positive values), or an unknown ``qk_norm_scope``.
    """

    def __init__(
        self,
        *,
        d_model: int,
        heads: int,
        kv_heads: int | None = None,
        head_dim: int | None = None,
        bias: bool = True,
        out_bias: bool | None = None,
        causal: bool = False,
        window: int | None = None,
        softcap: float | None = None,
        scale: float | None = None,
        q_norm: nn.Module | None = None,
        k_norm: nn.Module | None = None,
        qk_norm_scope: Literal["head", "all"] = "head",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        kv_heads, head_dim = head_sizes(d_model=d_model, heads=heads, kv_heads=kv_heads, head_dim=head_dim)
        if qk_norm_scope not in ("head", "all"):
            raise ValueError(f"qk_norm_scope must be 'head' or 'all', got {qk_norm_scope!r}")
        self.qk_norm_scope = qk_norm_scope
        if window is not None and window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        if softcap is not None and softcap <= 0:
            raise ValueError(f"softcap must be positive, got {softcap}")
        self.d_model, self.heads, self.kv_heads, self.head_dim = d_model, heads, kv_heads, head_dim
        self.causal, self.window, self.softcap, self.dropout = causal, window, softcap, dropout
        self.scale = self.head_dim**-0.5 if scale is None else scale
        inner, kv_inner = heads * self.head_dim, kv_heads * self.head_dim
        if kv_heads == heads:
            self.qkv: nn.Linear | None = nn.Linear(d_model, 3 * inner, bias=bias)
            self.q: nn.Linear | None = None
            self.kv: nn.Linear | None = None
        else:
            self.qkv = None
            self.q = nn.Linear(d_model, inner, bias=bias)
            self.kv = nn.Linear(d_model, 2 * kv_inner, bias=bias)
        self.q_norm, self.k_norm = q_norm, k_norm
        self.out = nn.Linear(inner, d_model, bias=bias if out_bias is None else out_bias)

    @property
    def supports_cache(self) -> bool:
        """Causal attention decodes incrementally with a cache of keys and values (bidirectional cannot)."""
        return self.causal

    def forward(
        self,
        x: Tensor,
        *,
        mask: Tensor | None = None,
        positions: object | None = None,
        cache: MixerCache | None = None,
    ) -> Tensor:
        """Attend.

        Args:
            x: ``(B, T, C)`` input (with a cache: the new positions only).
            mask: optional ``(B, T)`` padding mask, 1 for tokens and 0 for padding (the new positions').
            positions: what the model's positional encoding gives attention (RoPE, ALiBi), or None.
            cache: this layer's slot while decoding incrementally: the new keys and values are appended
                (a rolling cache of the last ``window`` positions with a sliding window) and the queries
                attend to every cached position. None = no cache.

        Returns:
            ``(B, T, C)``.

        Raises:
            ValueError: a cache with bidirectional attention.
        """
        if cache is not None:
            return self._forward_cached(x, mask=mask, positions=positions, cache=cache)
        b, t, _ = x.shape
        h, d = self.heads, self.head_dim
        q, k, v = self._project(x, positions)  # (B, H, T, D), (B, KV, T, D) x2
        bias, folded = None, False
        if positions is not None:
            masked_bias = getattr(positions, "masked_score_bias", None)
            folded = masked_bias is not None
            if folded:  # the bias with every mask folded in, built once for all layers (ALiBi)
                bias = masked_bias(h, t, t, q.dtype, padding=mask, causal=self.causal, window=self.window)
            else:
                bias = positions.score_bias(h, t, t, q.dtype)  # type: ignore[attr-defined]  # (H, T, T) or None
        explicit_causal = self.causal and (mask is not None or self.window is not None or bias is not None)
        keep = None if folded else build_mask(padding=mask, t_q=t, causal=explicit_causal, window=self.window,
                                              device=x.device)
        y = attend(q, k, v, keep=keep, bias=bias, is_causal=self.causal and not folded, scale=self.scale,
                   softcap=self.softcap, dropout=self.dropout if self.training else 0.0)  # (B, H, T, D)
        y = y.transpose(1, 2).reshape(b, t, h * d)  # (B, T, H*D)
        return self.out(y)  # (B, T, C)

    def _project(self, x: Tensor, positions: object | None) -> tuple[Tensor, Tensor, Tensor]:
        """Queries ``(B, H, T, D)``, keys and values ``(B, KV, T, D)``, normed and rotated."""
        b, t, _ = x.shape
        h, kv, d = self.heads, self.kv_heads, self.head_dim
        if self.qk_norm_scope == "all" and (self.q_norm is not None or self.k_norm is not None):
            qkv = self.qkv(x) if self.qkv is not None else torch.cat([self.q(x), self.kv(x)], dim=-1)
            q, k, v = qkv.split((h * d, kv * d, kv * d), dim=-1)  # (B, T, H*D), (B, T, KV*D) twice
            q = (self.q_norm(q) if self.q_norm is not None else q).view(b, t, h, d).transpose(1, 2)  # (B, H, T, D)
            k = (self.k_norm(k) if self.k_norm is not None else k).view(b, t, kv, d).transpose(1, 2)  # (B, KV, T, D)
            v = v.view(b, t, kv, d).transpose(1, 2)  # (B, KV, T, D)
        elif self.qkv is not None:
            q, k, v = self.qkv(x).view(b, t, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, D)
        else:
            q = self.q(x).view(b, t, h, d).transpose(1, 2)  # (B, H, T, D)
            k, v = self.kv(x).view(b, t, 2, kv, d).permute(2, 0, 3, 1, 4).unbind(0)  # each (B, KV, T, D)
        if self.qk_norm_scope == "head" and self.q_norm is not None:
            q = self.q_norm(q)
        if self.qk_norm_scope == "head" and self.k_norm is not None:
            k = self.k_norm(k)
        if positions is not None:
            q, k = positions.rotate(q, k)  # type: ignore[attr-defined]
        return q, k, v

    def _forward_cached(self, x: Tensor, *, mask: Tensor | None, positions: object | None,
                        cache: MixerCache) -> Tensor:
        """Attention of the new positions to the cached ones and themselves (see :meth:`forward`)."""
        if not self.causal:
            raise ValueError("bidirectional attention cannot decode with a cache (every position sees later ones)")
        b, t, _ = x.shape
        h, d = self.heads, self.head_dim
        q, k, v = self._project(x, positions)  # (B, H, T, D), (B, KV, T, D) x2
        keep_new = (torch.ones(b, t, dtype=torch.bool, device=x.device) if mask is None
                    else mask.to(torch.bool))  # (B, T)
        full: KVState = append_kv(cache, k, v, keep_new, window=self.window)  # Tk = cached + T keys
        tk = full.k.shape[2]
        padding = None if (t == 1 and mask is None and bool(full.keep.all())) else full.keep  # (B, Tk) or None
        causal = t > 1
        window = self.window if self.window is not None and tk > self.window else None
        bias, keep = None, None
        masked_bias = getattr(positions, "masked_score_bias", None)
        if masked_bias is not None:  # ALiBi: the bias with the mask folded in
            bias = masked_bias(h, t, tk, q.dtype, padding=padding, causal=causal, window=window)
        else:
            if positions is not None:
                bias = positions.score_bias(h, t, tk, q.dtype)  # type: ignore[attr-defined]
            keep = build_mask(padding=padding, t_q=t, t_k=tk, causal=causal, window=window, device=x.device)
        y = attend(q, full.k, full.v, keep=keep, bias=bias, is_causal=False, scale=self.scale,
                   softcap=self.softcap, dropout=0.0)  # (B, H, T, D)
        return self.out(y.transpose(1, 2).reshape(b, t, h * d))  # (B, T, C)

    def kv_cache_per_token(self) -> int:
        """Elements of K and V that autoregressive decoding caches per token (0 when not causal).

        Summaries read this instead of guessing from the kernel call: a sliding window, ALiBi or a
        soft-cap change how attention is computed, not what a decoder caches. With a window, the
        cache stops growing after ``window`` tokens.

        Returns:
            ``2 * kv_heads * head_dim`` for causal attention, else 0.
        """
        return 2 * self.kv_heads * self.head_dim if self.causal else 0

    def extra_repr(self) -> str:
        return (f"heads={self.heads}, kv_heads={self.kv_heads}, head_dim={self.head_dim}, causal={self.causal}, "
                f"window={self.window}, softcap={self.softcap}")


class CrossAttention(nn.Module):
    """Attention from a sequence (queries) to another one (``memory``: keys and values), e.g. an encoder's output.

    Positions are not applied: queries and keys come from different sequences (as in the original
    Transformer, whose positions are added to the embeddings). State-dict layout: ``q``, ``kv`` (rows
    ``[k; v]``), ``out``, and ``q_norm`` / ``k_norm`` when given.

    Args:
        d_model: width of the queries, memory and output.
        heads: number of query heads.
        kv_heads: number of key/value heads (divides ``heads``); None = ``heads``.
        head_dim: width of each head; None = ``d_model // heads``.
        bias: add biases to the projections.
        softcap: attention logit soft-cap (forces the math path), or None.
        q_norm: norm of width ``head_dim`` on query heads, or None.
        k_norm: likewise for keys, or None.
        dropout: dropout on the attention weights (training only).

    Raises:
        ValueError: for sizes that do not fit.
    """

    def __init__(
        self,
        *,
        d_model: int,
        heads: int,
        kv_heads: int | None = None,
        head_dim: int | None = None,
        bias: bool = True,
        softcap: float | None = None,
        q_norm: nn.Module | None = None,
        k_norm: nn.Module | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        kv_heads, head_dim = head_sizes(d_model=d_model, heads=heads, kv_heads=kv_heads, head_dim=head_dim)
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.softcap, self.dropout = softcap, dropout
        self.q = nn.Linear(d_model, heads * self.head_dim, bias=bias)
        self.kv = nn.Linear(d_model, 2 * kv_heads * self.head_dim, bias=bias)
        self.q_norm, self.k_norm = q_norm, k_norm
        self.out = nn.Linear(heads * self.head_dim, d_model, bias=bias)

    #: the keys and values of ``memory`` are computed once and kept in the cache
    supports_cache = True

    def forward(
        self, x: Tensor, *, memory: Tensor, memory_mask: Tensor | None = None, cache: MixerCache | None = None
    ) -> Tensor:
        """Attend from ``x`` to ``memory``.

        Args:
            x: ``(B, Tq, C)`` queries' input.
            memory: ``(B, Tk, C)`` the sequence attended to.
            memory_mask: optional ``(B, Tk)`` padding mask of ``memory`` (1 token, 0 padding).
            cache: while decoding: the slot holding ``memory``'s keys and values, filled on the first call
                and reused afterwards (``memory`` must not change in between). None = no cache.

        Returns:
            ``(B, Tq, C)``.
        """
        b, tq, _ = x.shape
        tk = memory.shape[1]
        h, kv, d = self.heads, self.kv_heads, self.head_dim
        q = self.q(x).view(b, tq, h, d).transpose(1, 2)  # (B, H, Tq, D)
        if self.q_norm is not None:
            q = self.q_norm(q)
        if cache is not None and isinstance(cache.state, KVState):
            k, v = cache.state.k, cache.state.v  # (B, KV, Tk, D) each, computed on the first call
        else:
            k, v = self.kv(memory).view(b, tk, 2, kv, d).permute(2, 0, 3, 1, 4).unbind(0)  # each (B, KV, Tk, D)
            if self.k_norm is not None:
                k = self.k_norm(k)
            if cache is not None:
                keep = torch.ones(b, tk, dtype=torch.bool, device=x.device) if memory_mask is None \
                    else memory_mask.to(torch.bool)
                cache.state = KVState(k, v, keep)
        keep = build_mask(padding=memory_mask, t_q=tq, causal=False, window=None)  # (B, 1, 1, Tk) or None
        y = attend(q, k, v, keep=keep, bias=None, is_causal=False, scale=d**-0.5, softcap=self.softcap,
                   dropout=self.dropout if self.training else 0.0)  # (B, H, Tq, D)
        return self.out(y.transpose(1, 2).reshape(b, tq, h * d))  # (B, Tq, C)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, kv_heads={self.kv_heads}, head_dim={self.head_dim}"


__all__ = ["CrossAttention", "MultiHeadAttention", "attend", "head_sizes"]

"""The Linformer attention module. Imports torch; loaded only when a model is built."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinformerAttention(nn.Module):
    """Multi-head self-attention whose keys and values are projected along the sequence to length ``k``.

    ``K' = E K`` and ``V' = F V`` with learned ``E, F`` of shape ``(k, seq_len)`` (the first ``T``
    columns are used for a length-``T`` input), then ``softmax(Q K'^T / sqrt(d)) V'`` through
    ``scaled_dot_product_attention``. Padding positions are zeroed before the projection, so they
    contribute nothing. Not causal: the projection mixes all positions.

    Positions: called like every mixer as ``m(x, mask=mask, positions=positions)``, it ignores
    ``positions``. RoPE rotates queries and keys so that their dot product depends on the distance
    ``i - j``, and ALiBi biases the ``(i, j)`` score; after the projection along the sequence a key no
    longer belongs to one position ``j``, so neither applies. Linformer is order-blind by itself (two equal
    tokens get equal outputs), so it needs positions added to the embeddings (``learned``,
    ``sinusoidal``); its parameter model declares ``uses_positions = "ignores"``, which makes a spec
    with ``rope`` or ``alibi`` a validation error.

    Args:
        d_model: width of the input and output.
        heads: number of heads; must divide ``d_model``.
        seq_len: longest input length.
        k: projected length (rank), at most ``seq_len``.
        share_kv: one projection for keys and values.
        bias: biases on the QKV and output projections.
        dropout: dropout on the attention probabilities (training only).

    Raises:
        ValueError: a size is not positive, ``heads`` does not divide ``d_model``, or ``k > seq_len``.
    """

    def __init__(
        self,
        *,
        d_model: int,
        heads: int,
        seq_len: int,
        k: int,
        share_kv: bool = False,
        bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if min(d_model, heads, seq_len, k) <= 0:
            raise ValueError(f"sizes must be positive, got d_model={d_model}, heads={heads}, seq_len={seq_len}, k={k}")
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        if k > seq_len:
            raise ValueError(f"k={k} must be at most seq_len={seq_len}")
        self.d_model, self.heads, self.head_dim = d_model, heads, d_model // heads
        self.seq_len, self.k, self.dropout = seq_len, k, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.proj_k = nn.Parameter(torch.empty(k, seq_len))
        self.proj_v = None if share_kv else nn.Parameter(torch.empty(k, seq_len))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the sequence projections (the linear layers initialise themselves)."""
        for p in (self.proj_k, self.proj_v):
            if p is not None:
                nn.init.normal_(p, std=1.0 / math.sqrt(self.k))

    def forward(self, x: Tensor, *, mask: Tensor | None = None, positions: object | None = None) -> Tensor:
        """Attend.

        Args:
            x: ``(B, T, C)`` input, ``T <= seq_len``.
            mask: optional ``(B, T)`` padding mask, 1 for tokens and 0 for padding.
            positions: the model's RoPE/ALiBi state, or None; ignored (see the class docstring).

        Returns:
            ``(B, T, C)``.

        Raises:
            ValueError: ``T`` is longer than ``seq_len``.
        """
        b, t, c = x.shape
        if t > self.seq_len:
            raise ValueError(f"input length {t} exceeds the Linformer seq_len={self.seq_len}")
        qkv = self.qkv(x).view(b, t, 3, self.heads, self.head_dim)  # (B, T, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, D)
        if mask is not None:
            keep = mask[:, None, :, None].to(k.dtype)  # (B, 1, T, 1)
            k, v = k * keep, v * keep
        e = self.proj_k[:, :t]  # (K, T)
        f = e if self.proj_v is None else self.proj_v[:, :t]  # (K, T)
        k = torch.einsum("kt,bhtd->bhkd", e, k)  # (B, H, K, D)
        v = torch.einsum("kt,bhtd->bhkd", f, v)  # (B, H, K, D)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)  # (B, H, T, D)
        return self.out(y.transpose(1, 2).reshape(b, t, c))  # (B, T, C)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, seq_len={self.seq_len}, k={self.k}, share_kv={self.proj_v is None}"

"""Attention modules. The math runs through ``torch.nn.functional.scaled_dot_product_attention``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from blockforge.components.masks import attention_mask


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention with a fused QKV projection.

    Args:
        d_model: width of the input and output.
        heads: number of attention heads; must divide ``d_model``.
        bias: add biases to the QKV and output projections.
        causal: forbid attending to later positions.
        dropout: dropout on the attention probabilities (training only).

    Raises:
        ValueError: if ``heads`` does not divide ``d_model`` or a size is not positive.
    """

    def __init__(
        self, *, d_model: int, heads: int, bias: bool = True, causal: bool = False, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if d_model <= 0 or heads <= 0:
            raise ValueError(f"d_model and heads must be positive, got d_model={d_model}, heads={heads}")
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.d_model = d_model
        self.heads = heads
        self.head_dim = d_model // heads
        self.causal = causal
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: Tensor, *, mask: Tensor | None = None) -> Tensor:
        """Attend.

        Args:
            x: ``(B, T, C)`` input.
            mask: optional ``(B, T)`` padding mask, 1 for tokens and 0 for padding.

        Returns:
            ``(B, T, C)``.
        """
        b, t, c = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.heads, self.head_dim)  # (B, T, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, D)
        attn_mask = attention_mask(mask, causal=self.causal) if mask is not None else None
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=self.causal and attn_mask is None,
        )  # (B, H, T, D)
        y = y.transpose(1, 2).reshape(b, t, c)  # (B, T, C)
        return self.out(y)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.head_dim}, causal={self.causal}"

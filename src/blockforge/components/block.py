"""Transformer blocks: attention and feed-forward sublayers with residuals and norms."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

NormPosition = Literal["pre", "post"]


class TransformerBlock(nn.Module):
    """Self-attention then feed-forward, each with a residual connection.

    ``post`` (the seed's, and the original Transformer's): ``x = norm(x + dropout(sublayer(x)))``.
    ``pre`` (GPT-2 onwards): ``x = x + dropout(sublayer(norm(x)))``.

    Args:
        attention: the attention module, called as ``attention(x, mask=mask)``.
        feedforward: the feed-forward module, called as ``feedforward(x)``.
        attn_norm: the norm around the attention sublayer.
        ff_norm: the norm around the feed-forward sublayer.
        norm_position: ``pre`` or ``post``.
        dropout: residual dropout on each sublayer's output (training only).

    Raises:
        ValueError: for an unknown ``norm_position``.
    """

    def __init__(
        self,
        *,
        attention: nn.Module,
        feedforward: nn.Module,
        attn_norm: nn.Module,
        ff_norm: nn.Module,
        norm_position: NormPosition = "pre",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if norm_position not in ("pre", "post"):
            raise ValueError(f"norm_position must be 'pre' or 'post', got {norm_position!r}")
        self.norm_position = norm_position
        self.attn_norm = attn_norm
        self.attention = attention
        self.ff_norm = ff_norm
        self.feedforward = feedforward
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, *, mask: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``; mask: optional ``(B, T)`` padding mask. Returns: ``(B, T, C)``."""
        if self.norm_position == "post":
            x = self.attn_norm(x + self.dropout(self.attention(x, mask=mask)))  # (B, T, C)
            return self.ff_norm(x + self.dropout(self.feedforward(x)))  # (B, T, C)
        x = x + self.dropout(self.attention(self.attn_norm(x), mask=mask))  # (B, T, C)
        return x + self.dropout(self.feedforward(self.ff_norm(x)))  # (B, T, C)

    def extra_repr(self) -> str:
        return f"norm_position={self.norm_position!r}"

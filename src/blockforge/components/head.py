"""Output heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LMHead(nn.Module):
    """Projects hidden states to vocabulary logits, optionally reusing the token embedding matrix.

    Args:
        d_model: hidden width.
        vocab_size: number of logits.
        bias: add an output bias.
        tied: reuse the embedding's weight instead of owning one (counted once in summaries).
    """

    def __init__(self, *, d_model: int, vocab_size: int, bias: bool = False, tied: bool = False) -> None:
        super().__init__()
        self.tied = tied
        self.d_model, self.vocab_size = d_model, vocab_size
        self.proj = None if tied else nn.Linear(d_model, vocab_size, bias=bias)
        self.bias = nn.Parameter(torch.empty(vocab_size)) if (tied and bias) else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the output bias of a tied head (the untied projection resets itself)."""
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, *, embedding: nn.Module | None = None) -> Tensor:
        """Args:
            x: ``(B, T, C)`` hidden states.
            embedding: the token embedding (an ``nn.Embedding``); needed when ``tied``.

        Returns:
            ``(B, T, vocab_size)`` logits.

        Raises:
            ValueError: a tied head called without the embedding.
        """
        if self.proj is not None:
            return self.proj(x)  # (B, T, V)
        if embedding is None:
            raise ValueError("a tied LM head needs the token embedding")
        return F.linear(x, embedding.weight, self.bias)  # (B, T, V)

    def extra_repr(self) -> str:
        return f"tied={self.tied}"

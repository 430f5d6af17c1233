"""Absolute positional encodings added to the token embeddings."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalPositionalEncoding(nn.Module):
    """The fixed sin/cos table of "Attention Is All You Need", added to the input.

    ``pe[pos, 2i] = sin(pos / base^(2i/d))`` and ``pe[pos, 2i+1] = cos(pos / base^(2i/d))``.
    The table is a non-persistent buffer: it is not in the state dict and has no parameters.

    Args:
        d_model: width; must be even.
        max_len: number of positions in the table.
        base: the wavelength base (10000 in the paper).

    Raises:
        ValueError: if ``d_model`` is odd or a size is not positive.
    """

    def __init__(self, *, d_model: int, max_len: int, base: float = 10000.0) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0 or d_model % 2:
            raise ValueError(f"need an even, positive d_model and positive max_len; got {d_model}, {max_len}")
        self.d_model, self.max_len, self.base = d_model, max_len, base
        self.register_buffer("pe", torch.empty(max_len, d_model), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """(Re)compute the table; the builder calls this after materialising a meta-built model."""
        if self.pe.is_meta:
            return
        pos = torch.arange(self.max_len, dtype=torch.float32, device=self.pe.device)[:, None]  # (L, 1)
        div = torch.exp(
            torch.arange(0, self.d_model, 2, dtype=torch.float32, device=self.pe.device)
            * (-math.log(self.base) / self.d_model)
        )  # (C/2,)
        table = torch.empty(self.max_len, self.d_model, dtype=torch.float32, device=self.pe.device)
        table[:, 0::2] = torch.sin(pos * div)
        table[:, 1::2] = torch.cos(pos * div)
        with torch.no_grad():
            self.pe.copy_(table.to(self.pe.dtype))

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``x + pe[:T]``, ``(B, T, C)``."""
        return x + self.pe[: x.shape[1]]  # (B, T, C)


class LearnedPositionalEmbedding(nn.Module):
    """A trained table of position vectors, added to the input (GPT-2, BERT).

    Args:
        d_model: width.
        max_len: number of positions.
    """

    def __init__(self, *, d_model: int, max_len: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, d_model))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal(0, 1) like ``nn.Embedding``."""
        nn.init.normal_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``x + weight[:T]``, ``(B, T, C)``."""
        return x + self.weight[: x.shape[1]]  # (B, T, C)

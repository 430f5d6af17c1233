"""Token embeddings."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class TokenEmbedding(nn.Embedding):
    """A lookup table of ``vocab_size`` vectors, optionally scaled, plus optional token-type embeddings.

    An ``nn.Embedding`` (so ``weight`` is the table a tied LM head reuses, and initialisation treats it
    as an embedding). State dict: ``weight``; ``token_type.weight`` with token types (BERT's segments).

    Args:
        vocab_size: number of tokens.
        d_model: width.
        scale: multiply the looked-up vectors by ``sqrt(d_model)`` (``sqrt_d_model``: the original
            Transformer, Gemma) or not (``none``). Applied before token types are added.
        token_types: number of token types (segments); 0 for none.

    Raises:
        ValueError: for non-positive sizes, a negative ``token_types`` or an unknown ``scale``.
    """

    def __init__(self, *, vocab_size: int, d_model: int, scale: str = "none", token_types: int = 0) -> None:
        if vocab_size <= 0 or d_model <= 0 or token_types < 0:
            raise ValueError(f"need positive vocab_size and d_model and token_types >= 0, got "
                             f"{vocab_size}, {d_model}, {token_types}")
        if scale not in ("none", "sqrt_d_model"):
            raise ValueError(f"scale must be 'none' or 'sqrt_d_model', got {scale!r}")
        super().__init__(vocab_size, d_model)
        self.scale = scale
        self.multiplier = math.sqrt(d_model) if scale == "sqrt_d_model" else None
        self.token_type = nn.Embedding(token_types, d_model) if token_types else None

    def forward(self, ids: Tensor, token_types: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """Args:
            ids: ``(B, T)`` token ids.
            token_types: optional ``(B, T)`` token-type ids (zeros when the module has types and this is None).

        Returns:
            ``(B, T, C)``.

        Raises:
            ValueError: ``token_types`` given to an embedding without a token-type table.
        """
        if token_types is not None and self.token_type is None:
            raise ValueError("token_types were given, but this model has no token-type embeddings "
                             "(embedding.token_types = 0); set model.embedding.token_types (e.g. "
                             "`embedding: {type: token, token_types: 2}`) or call the model without token_types")
        x = super().forward(ids)  # (B, T, C)
        if self.multiplier is not None:
            x = x * torch.tensor(self.multiplier, dtype=x.dtype, device=x.device)  # (B, T, C)
        if self.token_type is not None:
            types = torch.zeros_like(ids) if token_types is None else token_types
            x = x + self.token_type(types)  # (B, T, C)
        return x

    def extra_repr(self) -> str:
        types = self.token_type.num_embeddings if self.token_type is not None else 0
        return f"{super().extra_repr()}, scale={self.scale!r}, token_types={types}"

"""Whole models: token ids in, logits out."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class TransformerLM(nn.Module):
    """Token embedding, positional encoding, a stack of blocks, an optional final norm, a head.

    Args:
        embedding: token embedding (``nn.Embedding``-like: ``(B, T) -> (B, T, C)``, has ``weight``).
        positional: adds position information, ``(B, T, C) -> (B, T, C)``.
        blocks: the stack, each called as ``block(x, mask=mask)``.
        final_norm: norm after the stack, or None.
        head: called as ``head(x, embedding=embedding)``.
        max_len: longest accepted sequence.
        dropout: dropout on the embeddings (training only).
    """

    def __init__(
        self,
        *,
        embedding: nn.Module,
        positional: nn.Module,
        blocks: Sequence[nn.Module],
        final_norm: nn.Module | None,
        head: nn.Module,
        max_len: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.embedding = embedding
        self.positional = positional
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(blocks)
        self.final_norm = final_norm if final_norm is not None else nn.Identity()
        self.head = head

    def forward(self, ids: Tensor, mask: Tensor | None = None) -> Tensor:
        """Compute logits.

        Args:
            ids: ``(B, T)`` token ids.
            mask: optional ``(B, T)`` padding mask: 1 for a token, 0 for padding (as in the seed).

        Returns:
            ``(B, T, vocab_size)`` logits.

        Raises:
            ValueError: ``T`` exceeds ``max_len``, or the shapes of ``ids`` and ``mask`` disagree.
        """
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, seq_len), got shape {tuple(ids.shape)}")
        if ids.shape[1] > self.max_len:
            raise ValueError(
                f"sequence length {ids.shape[1]} exceeds max_len={self.max_len} of this model"
            )
        if mask is not None and mask.shape != ids.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match ids shape {tuple(ids.shape)}")
        x = self.dropout(self.positional(self.embedding(ids)))  # (B, T, C)
        for block in self.blocks:
            x = block(x, mask=mask)  # (B, T, C)
        x = self.final_norm(x)  # (B, T, C)
        return self.head(x, embedding=self.embedding)  # (B, T, V)

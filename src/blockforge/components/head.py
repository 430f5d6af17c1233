"""Output heads. Every head is called as ``head(x, *, embedding=None, mask=None)``."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LMHead(nn.Module):
    """Projects hidden states to vocabulary logits, optionally reusing the token embedding matrix.

    State dict: ``proj.weight`` (and ``proj.bias``) when untied; ``bias`` for a tied head with a bias.

    Args:
        d_model: hidden width.
        vocab_size: number of logits.
        bias: add an output bias.
        tied: reuse the embedding's weight instead of owning one (counted once in summaries).
        softcap: final logit soft-cap ``cap * tanh(logits / cap)`` (Gemma 2), or None.

    Raises:
        ValueError: for a non-positive ``softcap``.
    """

    def __init__(
        self, *, d_model: int, vocab_size: int, bias: bool = False, tied: bool = False, softcap: float | None = None
    ) -> None:
        super().__init__()
        if softcap is not None and softcap <= 0:
            raise ValueError(f"softcap must be positive, got {softcap}")
        self.tied, self.softcap = tied, softcap
        self.d_model, self.vocab_size = d_model, vocab_size
        self.proj = None if tied else nn.Linear(d_model, vocab_size, bias=bias)
        self.bias = nn.Parameter(torch.empty(vocab_size)) if (tied and bias) else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the output bias of a tied head (the untied projection resets itself)."""
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, *, embedding: nn.Module | None = None, mask: Tensor | None = None) -> Tensor:
        """Args:
            x: ``(B, T, C)`` hidden states.
            embedding: the token embedding (has ``weight``); needed when ``tied``.
            mask: ignored (every position gets logits).

        Returns:
            ``(B, T, vocab_size)`` logits.

        Raises:
            ValueError: a tied head called without the embedding.
        """
        if self.proj is not None:
            logits = self.proj(x)  # (B, T, V)
        elif embedding is None:
            raise ValueError("a tied LM head needs the token embedding")
        else:
            logits = F.linear(x, embedding.weight, self.bias)  # (B, T, V)
        if self.softcap is not None:
            logits = self.softcap * torch.tanh(logits / self.softcap)  # (B, T, V)
        return logits

    def extra_repr(self) -> str:
        return f"tied={self.tied}, softcap={self.softcap}"


class MaskedLMHead(nn.Module):
    """BERT's masked-LM head: a dense layer, an activation and a norm (the "prediction head transform"),
    then the vocabulary projection, tied to the token embedding, with an output bias (Devlin et al. 2019;
    transformers' ``BertLMPredictionHead``, RoBERTa's ``lm_head``, DistilBERT's ``vocab_*``).

    State dict: ``dense`` (weight, bias), ``norm``, ``bias`` (tied) or ``proj`` (untied).

    Args:
        d_model: hidden width.
        vocab_size: number of logits.
        activation: after the dense layer (BERT: exact GELU).
        norm: after the activation (BERT: LayerNorm), or None.
        tied: the projection is the token embedding's weight.
        bias: the projection has an output bias.
    """

    def __init__(
        self, *, d_model: int, vocab_size: int, activation: nn.Module, norm: nn.Module | None,
        tied: bool = True, bias: bool = True,
    ) -> None:
        super().__init__()
        self.tied = tied
        self.dense = nn.Linear(d_model, d_model)
        self.activation = activation
        self.norm = norm
        self.proj = None if tied else nn.Linear(d_model, vocab_size, bias=bias)
        self.bias = nn.Parameter(torch.empty(vocab_size)) if (tied and bias) else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the output bias of a tied head."""
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, *, embedding: nn.Module | None = None, mask: Tensor | None = None) -> Tensor:
        """Args:
            x: ``(B, T, C)`` hidden states.
            embedding: the token embedding (has ``weight``); needed when ``tied``.
            mask: ignored (every position gets logits).

        Returns:
            ``(B, T, vocab_size)`` logits.

        Raises:
            ValueError: a tied head called without the embedding.
        """
        h = self.activation(self.dense(x))  # (B, T, C)
        if self.norm is not None:
            h = self.norm(h)  # (B, T, C)
        if self.proj is not None:
            return self.proj(h)  # (B, T, V)
        if embedding is None:
            raise ValueError("a tied masked-LM head needs the token embedding")
        return F.linear(h, embedding.weight, self.bias)  # (B, T, V)

    def extra_repr(self) -> str:
        return f"tied={self.tied}"


class ClassificationHead(nn.Module):
    """Pools a sequence to one vector and classifies it (BERT's pooler + classifier when ``pooler`` is set).

    Pooling: ``cls`` takes the first position, ``mean`` averages the tokens (padding excluded), ``last``
    takes each sequence's last real token (the last position whose mask is 1, so left- and right-padded
    batches both work; the last position without a mask). State dict: ``pool`` (with a pooler), ``proj``.

    Args:
        d_model: hidden width.
        classes: number of outputs.
        pooling: ``cls``, ``mean`` or ``last``.
        pooler: activation of a dense ``d_model -> d_model`` layer applied to the pooled vector (BERT: tanh),
            or None for no such layer.
        output: applied to the logits, e.g. ``nn.Softmax(-1)`` to return probabilities; None = logits.
        dropout: dropout before the projection (training only).
        bias: the projection has a bias (BERT); decoder classifiers (Llama's ``score``) have none.

    Raises:
        ValueError: for an unknown pooling or non-positive sizes.
    """

    def __init__(
        self,
        *,
        d_model: int,
        classes: int,
        pooling: Literal["cls", "mean", "last"] = "cls",
        pooler: nn.Module | None = None,
        output: nn.Module | None = None,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if pooling not in ("cls", "mean", "last"):
            raise ValueError(f"pooling must be 'cls', 'mean' or 'last', got {pooling!r}")
        if d_model <= 0 or classes <= 0:
            raise ValueError(f"d_model and classes must be positive, got {d_model}, {classes}")
        self.pooling, self.classes = pooling, classes
        self.pool = nn.Linear(d_model, d_model) if pooler is not None else None
        self.pool_act = pooler
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, classes, bias=bias)
        self.output = output

    def forward(self, x: Tensor, *, embedding: nn.Module | None = None, mask: Tensor | None = None) -> Tensor:
        """Args:
            x: ``(B, T, C)`` hidden states.
            embedding: ignored.
            mask: optional ``(B, T)`` padding mask (1 token, 0 padding) for ``mean`` and ``last``.

        Returns:
            ``(B, classes)`` logits, or what ``output`` makes of them (probabilities for softmax).
        """
        if self.pooling == "cls":
            pooled = x[:, 0]  # (B, C)
        elif self.pooling == "mean":
            if mask is None:
                pooled = x.mean(1)  # (B, C)
            else:
                w = mask.to(x.dtype)[..., None]  # (B, T, 1)
                pooled = (x * w).sum(1) / w.sum(1).clamp(min=1.0)  # (B, C)
        else:
            if mask is None:
                pooled = x[:, -1]  # (B, C)
            else:
                index = torch.arange(x.shape[1], device=x.device)  # (T,)
                last = (mask.long() * index).argmax(1)  # (B,) last real token; 0 for an all-padding row
                pooled = x[torch.arange(x.shape[0], device=x.device), last]  # (B, C)
        if self.pool is not None and self.pool_act is not None:
            pooled = self.pool_act(self.pool(pooled))  # (B, C)
        logits = self.proj(self.drop(pooled))  # (B, classes)
        return self.output(logits) if self.output is not None else logits

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}, classes={self.classes}"


class HiddenStates(nn.Module):
    """No head: the model returns its final hidden states ``(B, T, C)`` (for embeddings or custom heads)."""

    def forward(self, x: Tensor, *, embedding: nn.Module | None = None, mask: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``; embedding, mask: ignored. Returns: ``x``."""
        return x

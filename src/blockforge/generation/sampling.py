"""Choosing the next token from logits: repetition penalty, temperature, top-k, top-p, greedy or sampling.

The operations and their order are transformers' (``RepetitionPenaltyLogitsProcessor``, then the
``TemperatureLogitsWarper``, ``TopKLogitsWarper`` and ``TopPLogitsWarper`` when sampling).
"""

from __future__ import annotations

import torch
from torch import Tensor


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """CTRL's repetition penalty (Keskar et al. 2019): divide positive logits of tokens already present by
    ``penalty``, multiply negative ones by it.

    Args:
        logits: ``(B, V)``.
        seen: ``(B, V)`` bool, True for tokens present in the row (prompt and generated, padding excluded).
        penalty: > 0; 1.0 leaves the logits unchanged.

    Returns:
        ``(B, V)``.
    """
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)  # (B, V)
    return torch.where(seen, penalised, logits)


def filter_top_k(logits: Tensor, top_k: int) -> Tensor:
    """Keep the ``top_k`` largest logits of each row (ties at the boundary kept), the rest ``-inf``.

    Args:
        logits: ``(B, V)``.
        top_k: 0 keeps all.
    """
    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: Tensor, top_p: float) -> Tensor:
    """Nucleus filtering (Holtzman et al. 2020): keep the smallest set of most likely tokens whose
    probability reaches ``top_p`` (at least one), the rest ``-inf``.

    Args:
        logits: ``(B, V)``.
        top_p: in ``(0, 1]``; 1.0 keeps all.
    """
    if top_p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # (B, V) mass of the more likely tokens
    drop_sorted = before >= top_p  # the first token always stays (before = 0)
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def next_token(
    logits: Tensor,
    *,
    seen: Tensor | None,
    do_sample: bool,
    temperature: float,
    top_k: int,
    top_p: float,
    repetition_penalty: float,
    generator: torch.Generator | None,
) -> Tensor:
    """The next token of each row.

    Args:
        logits: ``(B, V)`` the last position's logits.
        seen: ``(B, V)`` bool of tokens present so far (for the repetition penalty), or None.
        do_sample: sample from the filtered distribution; else the most likely token (greedy).
        temperature: > 0, divides the logits before sampling.
        top_k: see :func:`filter_top_k`.
        top_p: see :func:`filter_top_p`.
        repetition_penalty: see :func:`apply_repetition_penalty`.
        generator: the random generator used for sampling.

    Returns:
        ``(B,)`` int64 token ids.
    """
    logits = logits.float()
    if seen is not None:
        logits = apply_repetition_penalty(logits, seen, repetition_penalty)
    if not do_sample:
        return logits.argmax(-1)  # (B,)
    logits = filter_top_p(filter_top_k(logits / temperature, top_k), top_p)
    probs = logits.softmax(-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


__all__ = ["apply_repetition_penalty", "filter_top_k", "filter_top_p", "next_token"]

"""Attention masks for ``scaled_dot_product_attention`` (boolean, ``True`` = may attend)."""

from __future__ import annotations

import torch
from torch import Tensor


def attention_mask(padding: Tensor, *, causal: bool) -> Tensor:
    """Combine a padding mask with an optional causal mask.

    Rows that would see no key at all (a sequence that is all padding, or a left-padded position
    under a causal mask) are opened to every key instead, as the seed's ``-1e9`` fill does, so the
    kernel never returns NaN. Such rows are padding: no real token attends to them.

    Args:
        padding: ``(B, T)``, 1 (or True) for a token, 0 for padding.
        causal: also forbid attending to later positions.

    Returns:
        ``(B, 1, 1, T)`` without ``causal``, ``(B, 1, T, T)`` with it; bool.

    Raises:
        ValueError: if ``padding`` is not two-dimensional.
    """
    if padding.dim() != 2:
        raise ValueError(f"padding mask must be (batch, seq_len), got shape {tuple(padding.shape)}")
    keep = padding.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T)
    if causal:
        t = padding.shape[-1]
        tri = torch.ones(t, t, dtype=torch.bool, device=padding.device).tril()  # (T, T)
        keep = keep & tri  # (B, 1, T, T)
    return keep | ~keep.any(dim=-1, keepdim=True)

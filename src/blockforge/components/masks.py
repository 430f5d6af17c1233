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
    return build_mask(padding=padding, t_q=padding.shape[-1], causal=causal, window=None)  # type: ignore[return-value]


def build_mask(
    *,
    padding: Tensor | None,
    t_q: int,
    causal: bool,
    window: int | None,
    t_k: int | None = None,
    device: torch.device | None = None,
) -> Tensor | None:
    """The boolean mask for padding, causality and a sliding window, or None if nothing is masked.

    Query ``i`` may attend key ``j`` when the key is a token (``padding``), ``j <= i`` (``causal``)
    and ``i - j < window`` (``window``; without ``causal`` the window is symmetric, ``|i - j| < window``).
    With fewer queries than keys (decoding with a cache) the queries are the last ``T_q`` keys' places.
    Fully masked rows are opened to every key (see :func:`attention_mask`).

    Args:
        padding: ``(B, T_k)`` 1 for a token, 0 for padding; or None.
        t_q: number of queries.
        causal: forbid later keys.
        window: sliding-window size, or None for unlimited.
        t_k: number of keys (defaults to ``padding``'s length, else ``t_q``).
        device: where to build the mask when ``padding`` is None.

    Returns:
        bool ``(B or 1, 1, T_q or 1, T_k)``, or None.

    Raises:
        ValueError: if ``padding`` is not two-dimensional or ``window`` is not positive.
    """
    if padding is not None and padding.dim() != 2:
        raise ValueError(f"padding mask must be (batch, seq_len), got shape {tuple(padding.shape)}")
    if window is not None and window <= 0:
        raise ValueError(f"window must be positive, got {window}")
    if padding is None and not causal and window is None:
        return None
    if padding is not None:
        device = padding.device
        t_k = padding.shape[-1] if t_k is None else t_k
    t_k = t_q if t_k is None else t_k
    keep = torch.ones(1, 1, 1, t_k, dtype=torch.bool, device=device)  # (1, 1, 1, Tk)
    if padding is not None:
        keep = padding.to(torch.bool)[:, None, None, :]  # (B, 1, 1, Tk)
    if causal or window is not None:
        i = torch.arange(t_k - t_q, t_k, device=device)[:, None]  # (Tq, 1): queries are the last Tq keys
        j = torch.arange(t_k, device=device)[None, :]  # (1, Tk)
        rel = torch.ones(t_q, t_k, dtype=torch.bool, device=device)  # (Tq, Tk)
        if causal:
            rel = rel & (j <= i)
        if window is not None:
            rel = rel & ((i - j) < window)
            if not causal:
                rel = rel & ((j - i) < window)
        keep = keep & rel  # (B, 1, Tq, Tk)
    return keep | ~keep.any(dim=-1, keepdim=True)

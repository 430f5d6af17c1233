"""Mixture-of-experts feed-forward with top-k routing and a load-balancing loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MixtureOfExperts(nn.Module):
    """Top-k routed experts (Switch / Mixtral style).

    A linear router scores the experts per token; the top ``k`` are softmax-normalised (over the
    selected ``k``, as Mixtral) and their outputs summed with those weights. After every forward,
    ``aux_loss`` holds the load-balancing loss of Switch Transformer, ``E * sum_e f_e * P_e`` (``f_e``: fraction
    of routed token slots sent to expert ``e``, ``P_e``: its mean router probability); it is 1 for a perfectly
    balanced router. Models sum it over their layers (``model.aux_loss()``); add it to the training loss
    with a small coefficient (0.01 in Switch).

    On real devices each expert runs on its tokens only. On the meta device (shape inference) routing is
    data-dependent, so every expert runs on every token instead; shapes are the same. The sparse
    dispatch (``torch.where`` on the routing) is data-dependent too, so ``torch.compile(fullgraph=True)``
    does not capture a MoE layer in one graph.

    State dict: ``router`` (no bias), ``experts.<e>.*``.

    Args:
        d_model: input and output width.
        experts: the expert modules, each ``(N, C) -> (N, C)``.
        top_k: experts per token.

    Raises:
        ValueError: if ``top_k`` is not in ``1..len(experts)``.
    """

    def __init__(self, *, d_model: int, experts: Sequence[nn.Module], top_k: int = 2) -> None:
        super().__init__()
        if not 1 <= top_k <= len(experts):
            raise ValueError(f"top_k must be in 1..{len(experts)} (the number of experts), got {top_k}")
        self.top_k = top_k
        self.router = nn.Linear(d_model, len(experts), bias=False)
        self.experts = nn.ModuleList(experts)
        self.aux_loss: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``; sets ``self.aux_loss`` (a scalar)."""
        b, t, c = x.shape
        n_exp = len(self.experts)
        flat = x.reshape(b * t, c)  # (N, C)
        probs = torch.softmax(self.router(flat).float(), dim=-1)  # (N, E)
        top_p, top_i = probs.topk(self.top_k, dim=-1)  # (N, k), (N, k)
        top_p = (top_p / top_p.sum(-1, keepdim=True)).to(x.dtype)  # (N, k)
        out = torch.zeros_like(flat)  # (N, C)
        if flat.is_meta:
            for e, expert in enumerate(self.experts):
                w = (top_p * (top_i == e)).sum(-1, keepdim=True)  # (N, 1)
                out = out + w * expert(flat)  # (N, C)
        else:
            for e, expert in enumerate(self.experts):
                token, slot = torch.where(top_i == e)  # (n_e,), (n_e,)
                if token.numel():
                    y = expert(flat[token]) * top_p[token, slot, None]  # (n_e, C)
                    out = out.index_add(0, token, y)  # (N, C)
        counts = (top_i[..., None] == torch.arange(n_exp, device=x.device)).sum(dim=(0, 1)).float()  # (E,)
        frac = counts / counts.sum()  # (E,)
        self.aux_loss = n_exp * (frac * probs.mean(0)).sum()  # scalar
        return out.view(b, t, c)  # (B, T, C)

    def extra_repr(self) -> str:
        return f"experts={len(self.experts)}, top_k={self.top_k}"

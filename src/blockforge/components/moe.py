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

    On real devices each expert runs on the tokens routed to it. On the meta device (shape inference:
    summaries, FLOPs, activation memory) the routing has no data, so a perfectly balanced top-k routing
    stands in for it: token ``n`` goes to experts ``(n * k + j) mod E`` for ``j < k``, so each expert
    gets ``floor`` or ``ceil`` of ``N * k / E`` tokens and the ``N * k`` routed slots are counted exactly
    once (the FLOPs of a top-k layer, not of a dense one). The sparse dispatch (``torch.where`` on the
    routing) is data-dependent, so ``torch.compile(fullgraph=True)`` does not capture a MoE layer in one graph.

    A shared expert (DeepSeekMoE, Qwen2-MoE) sees every token and is added to the routed output,
    optionally scaled per token by ``sigmoid(shared_gate(x))`` (Qwen2-MoE).

    State dict: ``router`` (no bias), ``experts.<e>.*``; with a shared expert ``shared.*`` and
    ``shared_gate.weight`` (``(1, C)``, no bias).

    Args:
        d_model: input and output width.
        experts: the expert modules, each ``(N, C) -> (N, C)``.
        top_k: experts per token.
        normalize: renormalise the top-k probabilities to sum to 1 (Mixtral); False keeps each
            selected expert's softmax probability over all experts (Qwen-MoE without ``norm_topk_prob``).
        shared: an expert ``(N, C) -> (N, C)`` applied to every token, or None.
        shared_gate: scale the shared expert's output by a learned per-token sigmoid gate.

    Raises:
        ValueError: if ``top_k`` is not in ``1..len(experts)``.
    """

    def __init__(
        self, *, d_model: int, experts: Sequence[nn.Module], top_k: int = 2, normalize: bool = True,
        shared: nn.Module | None = None, shared_gate: bool = False,
    ) -> None:
        super().__init__()
        if not 1 <= top_k <= len(experts):
            raise ValueError(f"top_k must be in 1..{len(experts)} (the number of experts), got {top_k}")
        if shared_gate and shared is None:
            raise ValueError("shared_gate needs a shared expert")
        self.top_k, self.normalize = top_k, normalize
        self.router = nn.Linear(d_model, len(experts), bias=False)
        self.experts = nn.ModuleList(experts)
        self.shared = shared
        self.shared_gate = nn.Linear(d_model, 1, bias=False) if shared_gate else None
        self.aux_loss: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``; sets ``self.aux_loss`` (a scalar)."""
        b, t, c = x.shape
        n_exp = len(self.experts)
        flat = x.reshape(b * t, c)  # (N, C)
        logits = self.router(flat)  # (N, E)
        compute = torch.promote_types(logits.dtype, torch.float32)  # upcast half precision, keep float64
        probs = torch.softmax(logits, dim=-1, dtype=compute)  # (N, E)
        top_p, top_i = probs.topk(self.top_k, dim=-1)  # (N, k), (N, k)
        if self.normalize:
            top_p = top_p / top_p.sum(-1, keepdim=True)  # (N, k)
        top_p = top_p.to(x.dtype)  # (N, k)
        out = torch.zeros_like(flat)  # (N, C)
        for e, expert in enumerate(self.experts):
            if flat.is_meta:
                token, slot = self._balanced_slots(e, b * t, flat.device)  # (n_e,), (n_e,)
            else:
                token, slot = torch.where(top_i == e)  # (n_e,), (n_e,)
            if token.numel():
                y = expert(flat[token]) * top_p[token, slot, None]  # (n_e, C)
                out = out.index_add(0, token, y)  # (N, C)
        if self.shared is not None:
            y = self.shared(flat)  # (N, C)
            if self.shared_gate is not None:
                y = torch.sigmoid(self.shared_gate(flat)) * y  # (N, 1) * (N, C)
            out = out + y  # (N, C)
        expert_ids = torch.arange(n_exp, device=x.device)  # (E,)
        counts = (top_i[..., None] == expert_ids).sum(dim=(0, 1)).to(probs.dtype)  # (E,) slots per expert
        frac = counts / counts.sum()  # (E,)
        self.aux_loss = n_exp * (frac * probs.mean(0)).sum()  # scalar
        return out.view(b, t, c)  # (B, T, C)

    def _balanced_slots(self, expert: int, n_tokens: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """The (token, slot) pairs routed to ``expert`` under the balanced routing used on meta.

        Routed slot ``s`` (of ``N * k``) is token ``s // k``'s ``s % k``-th choice and goes to expert
        ``s mod E``; ``k <= E`` makes a token's ``k`` experts distinct.

        Returns:
            ``(n_e,)`` token indices and ``(n_e,)`` slot indices, ``n_e = max(0, ceil((N * k - expert) / E))``:
            none when there are fewer routed slots than experts (``expert >= N * k``).
        """
        start = min(expert, n_tokens * self.top_k)  # arange refuses a start past the end
        s = torch.arange(start, n_tokens * self.top_k, len(self.experts), device=device)  # (n_e,)
        return s // self.top_k, s % self.top_k

    def extra_repr(self) -> str:
        return f"experts={len(self.experts)}, top_k={self.top_k}, shared={self.shared is not None}"

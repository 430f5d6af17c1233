"""Norms that torch does not ship in the needed form (LayerNorm and plain RMSNorm are torch's own)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """RMS normalisation with a learned scale, optionally stored as an offset from one (Gemma).

    ``y = x / sqrt(mean(x^2) + eps) * w`` (``unit_offset=False``, same as ``nn.RMSNorm``) or
    ``* (1 + w)`` with ``w`` initialised to zero (``unit_offset=True``). Computed in at least float32
    (half precision is upcast, float64 stays float64) and cast back.
    State dict: ``weight``.

    Args:
        dim: width of the normalised (last) dimension.
        eps: added to the mean square.
        unit_offset: store the scale as ``1 + weight``.

    Raises:
        ValueError: for a non-positive ``dim`` or ``eps``.
    """

    def __init__(self, *, dim: int, eps: float = 1e-6, unit_offset: bool = False) -> None:
        super().__init__()
        if dim <= 0 or eps <= 0:
            raise ValueError(f"dim and eps must be positive, got {dim}, {eps}")
        self.dim, self.eps, self.unit_offset = dim, eps, unit_offset
        self.weight = nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Scale one: ``weight`` ones, or zeros with ``unit_offset``."""
        nn.init.zeros_(self.weight) if self.unit_offset else nn.init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(..., dim)``. Returns: the same shape and dtype."""
        ft = torch.promote_types(x.dtype, torch.float32)  # upcast half precision, never downcast float64
        xf = x.to(ft)
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)  # (..., dim)
        w = self.weight.to(ft)
        return (y * (1.0 + w if self.unit_offset else w)).to(x.dtype)  # (..., dim)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}, unit_offset={self.unit_offset}"

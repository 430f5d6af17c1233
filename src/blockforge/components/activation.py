"""Activations that torch does not ship as a module (the rest are torch's own: ``nn.ReLU``, ``nn.GELU``, ...)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ReLUSquared(nn.Module):
    """``relu(x) ** 2`` (Primer, So et al. 2021)."""

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: any shape. Returns: the same shape."""
        return torch.relu(x).square()

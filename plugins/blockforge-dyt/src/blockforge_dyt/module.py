"""The Dynamic Tanh module. Imports torch; loaded only when a model is built."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DynamicTanh(nn.Module):
    """``gamma * tanh(alpha * x) + beta`` over the last dimension; ``alpha`` is one learned scalar.

    Args:
        d_model: width of the last dimension (the size of ``gamma`` and ``beta``).
        alpha_init: initial value of ``alpha``.

    Raises:
        ValueError: ``d_model`` or ``alpha_init`` is not positive.
    """

    def __init__(self, *, d_model: int, alpha_init: float = 0.5) -> None:
        super().__init__()
        if d_model <= 0 or alpha_init <= 0:
            raise ValueError(f"d_model and alpha_init must be positive, got {d_model}, {alpha_init}")
        self.alpha_init = alpha_init
        self.alpha = nn.Parameter(torch.empty(1))
        self.weight = nn.Parameter(torch.empty(d_model))
        self.bias = nn.Parameter(torch.empty(d_model))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """alpha = alpha_init, gamma = 1, beta = 0 (the paper's initialisation)."""
        nn.init.constant_(self.alpha, self.alpha_init)
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(..., C)``. Returns: ``(..., C)``."""
        return torch.tanh(self.alpha * x) * self.weight + self.bias  # (..., C)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, alpha_init={self.alpha_init}"

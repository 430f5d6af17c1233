"""Position-wise feed-forward networks."""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    """Two linear layers with an activation between: ``down(dropout(act(up(x))))``.

    Args:
        d_model: input and output width.
        hidden: inner width.
        activation: the activation module (built from the spec's ``activation`` reference).
        bias: add biases to both linear layers.
        dropout: dropout after the activation (training only).

    Raises:
        ValueError: if a size is not positive.
    """

    def __init__(
        self, *, d_model: int, hidden: int, activation: nn.Module, bias: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if d_model <= 0 or hidden <= 0:
            raise ValueError(f"d_model and hidden must be positive, got {d_model}, {hidden}")
        self.up = nn.Linear(d_model, hidden, bias=bias)
        self.act = activation
        self.drop = nn.Dropout(dropout)
        self.down = nn.Linear(hidden, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``."""
        h = self.act(self.up(x))  # (B, T, hidden)
        return self.down(self.drop(h))  # (B, T, C)


class GLU(nn.Module):
    """Gated linear unit feed-forward (Shazeer 2020): ``down(dropout(act(gate(x)) * up(x)))``.

    SwiGLU uses SiLU, GeGLU GELU, ReGLU ReLU. State dict: ``gate``, ``up``, ``down`` (Llama's
    ``gate_proj``, ``up_proj``, ``down_proj``).

    Args:
        d_model: input and output width.
        hidden: inner width.
        activation: the gate's activation module.
        bias: add biases to the three linear layers.
        dropout: dropout on the gated hidden state (training only).

    Raises:
        ValueError: if a size is not positive.
    """

    def __init__(
        self, *, d_model: int, hidden: int, activation: nn.Module, bias: bool = False, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if d_model <= 0 or hidden <= 0:
            raise ValueError(f"d_model and hidden must be positive, got {d_model}, {hidden}")
        self.gate = nn.Linear(d_model, hidden, bias=bias)
        self.up = nn.Linear(d_model, hidden, bias=bias)
        self.act = activation
        self.drop = nn.Dropout(dropout)
        self.down = nn.Linear(hidden, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``."""
        h = self.act(self.gate(x)) * self.up(x)  # (B, T, hidden)
        return self.down(self.drop(h))  # (B, T, C)

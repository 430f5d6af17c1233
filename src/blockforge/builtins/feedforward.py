"""Built-in feed-forward networks: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ConfigDict

from blockforge.builtins._limits import Probability, Width
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import ActivationRef, Params

if TYPE_CHECKING:
    from torch import nn


class MLPParams(Params):
    """Position-wise feed-forward: Linear(d_model, hidden) -> activation -> Linear(hidden, d_model)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"hidden": 32}, {"hidden": 24, "activation": "gelu", "bias": False}]}
    )

    hidden: Width
    """Inner width (the seed's ff_hidden_size, 2048)."""
    activation: ActivationRef = "relu"
    """The activation between the two linear layers."""
    bias: bool = True
    """Biases on both linear layers."""
    dropout: Probability = 0.0
    """Dropout after the activation."""


def build_mlp(p: MLPParams, ctx: BuildContext) -> nn.Module:
    from blockforge.components.feedforward import MLP

    return MLP(d_model=ctx.d_model, hidden=p.hidden, activation=ctx.child(p.activation), bias=p.bias, dropout=p.dropout)


def register(registry: Registrar) -> None:
    """Register the built-in feed-forward networks."""
    registry.register("feedforward", "mlp", params=MLPParams, factory=build_mlp)

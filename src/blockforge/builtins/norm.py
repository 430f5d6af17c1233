"""Built-in norms: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blockforge.builtins._limits import Eps
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn


class LayerNormParams(Params):
    """Layer normalisation over the last dimension, with learned scale and (optionally) bias."""

    eps: Eps = 1e-5
    """Added to the variance for numerical stability."""
    bias: bool = True
    """Learn an additive bias as well as the scale."""


class RMSNormParams(Params):
    """Root-mean-square normalisation (no mean subtraction, no bias), with a learned scale."""

    eps: Eps = 1e-6
    """Added to the mean square for numerical stability."""


def build_layernorm(p: LayerNormParams, ctx: BuildContext) -> nn.Module:
    from torch import nn

    return nn.LayerNorm(ctx.d_model, eps=p.eps, bias=p.bias)


def build_rmsnorm(p: RMSNormParams, ctx: BuildContext) -> nn.Module:
    from torch import nn

    return nn.RMSNorm(ctx.d_model, eps=p.eps)


def register(registry: Registrar) -> None:
    """Register the built-in norms."""
    registry.register("norm", "layernorm", params=LayerNormParams, factory=build_layernorm)
    registry.register("norm", "rmsnorm", params=RMSNormParams, factory=build_rmsnorm)

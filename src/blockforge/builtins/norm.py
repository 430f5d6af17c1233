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
    unit_offset: bool = False
    """Scale by ``1 + weight`` with ``weight`` initialised to zero (Gemma) instead of by ``weight``."""


class NoNormParams(Params):
    """No normalisation (identity)."""


def build_layernorm(p: LayerNormParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``norm.layernorm``.

    Args:
        p: the validated parameters (``eps``, ``bias``).
        ctx: the build context (``ctx.d_model`` is the normalised width; a QK-norm gets one head's width).

    Returns:
        ``torch.nn.LayerNorm``, called as ``m(x)``.
    """
    from torch import nn

    return nn.LayerNorm(ctx.d_model, eps=p.eps, bias=p.bias)


def build_rmsnorm(p: RMSNormParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``norm.rmsnorm``.

    Args:
        p: the validated parameters (``eps``, ``unit_offset``).
        ctx: the build context (``ctx.d_model`` is the normalised width).

    Returns:
        ``torch.nn.RMSNorm``, or :class:`~blockforge.components.norm.RMSNorm` with ``unit_offset``.
    """
    from torch import nn

    if not p.unit_offset:
        return nn.RMSNorm(ctx.d_model, eps=p.eps)
    from blockforge.components.norm import RMSNorm

    return RMSNorm(dim=ctx.d_model, eps=p.eps, unit_offset=True)


def build_none(p: NoNormParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``norm.none``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused).

    Returns:
        ``torch.nn.Identity()``.
    """
    from torch import nn

    return nn.Identity()


def register(registry: Registrar) -> None:
    """Register the built-in norms."""
    registry.register("norm", "layernorm", params=LayerNormParams, factory=build_layernorm)
    registry.register("norm", "rmsnorm", params=RMSNormParams, factory=build_rmsnorm)
    registry.register("norm", "none", params=NoNormParams, factory=build_none)

"""Built-in activations: parameter models and factories (torch's own modules)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn


class ReLUParams(Params):
    """ReLU: max(0, x). The seed's activation."""


class LeakyReLUParams(Params):
    """Leaky ReLU: x for x >= 0, negative_slope * x otherwise (keeps 'dead' units alive)."""

    negative_slope: float = Field(default=0.01, ge=0.0, lt=1.0)
    """Slope for negative inputs."""


class GELUParams(Params):
    """GELU: x * Phi(x); exact (erf) or the tanh approximation (GPT-2)."""

    approximate: Literal["none", "tanh"] = "none"
    """``none`` for the exact erf form, ``tanh`` for the tanh approximation."""


class SiLUParams(Params):
    """SiLU / swish: x * sigmoid(x)."""


class GELUTanhParams(Params):
    """GELU with the tanh approximation (GPT-2, Gemma's GeGLU); an alias of ``{type: gelu, approximate: tanh}``
    (validated into it: one architecture, one hash)."""

    def expands_to(self) -> dict[str, Any]:
        """``{type: gelu, approximate: tanh}`` (see :meth:`Params.expands_to`)."""
        return {"type": "gelu", "approximate": "tanh"}


class ReLUSquaredParams(Params):
    """Squared ReLU: relu(x) ** 2 (Primer)."""


class TanhParams(Params):
    """tanh (BERT's pooler)."""


class SoftmaxParams(Params):
    """Softmax over the last dimension: turns an output's logits into probabilities (the seed's output layer)."""


def build_relu(p: ReLUParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``activation.relu``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused: an activation has no width).

    Returns:
        ``torch.nn.ReLU()``.
    """
    from torch import nn

    return nn.ReLU()


def build_leaky_relu(p: LeakyReLUParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``activation.leaky_relu``.

    Args:
        p: the validated parameters (``negative_slope``).
        ctx: the build context (unused: an activation has no width).

    Returns:
        ``torch.nn.LeakyReLU(negative_slope)``.
    """
    from torch import nn

    return nn.LeakyReLU(negative_slope=p.negative_slope)


def build_gelu(p: GELUParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``activation.gelu``.

    Args:
        p: the validated parameters (``approximate``).
        ctx: the build context (unused: an activation has no width).

    Returns:
        ``torch.nn.GELU(approximate)``.
    """
    from torch import nn

    return nn.GELU(approximate=p.approximate)


def build_silu(p: SiLUParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``activation.silu``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused: an activation has no width).

    Returns:
        ``torch.nn.SiLU()``.
    """
    from torch import nn

    return nn.SiLU()


def build_relu_squared(p: ReLUSquaredParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``activation.relu_squared``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused: an activation has no width).

    Returns:
        :class:`~blockforge.components.activation.ReLUSquared`.
    """
    from blockforge.components.activation import ReLUSquared

    return ReLUSquared()


def build_tanh(p: TanhParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``activation.tanh``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused: an activation has no width).

    Returns:
        ``torch.nn.Tanh()``.
    """
    from torch import nn

    return nn.Tanh()


def build_softmax(p: SoftmaxParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``activation.softmax``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused: an activation has no width).

    Returns:
        ``torch.nn.Softmax(dim=-1)``.
    """
    from torch import nn

    return nn.Softmax(dim=-1)


def register(registry: Registrar) -> None:
    """Register the built-in activations."""
    registry.register("activation", "relu", params=ReLUParams, factory=build_relu)
    registry.register("activation", "leaky_relu", params=LeakyReLUParams, factory=build_leaky_relu)
    registry.register("activation", "gelu", params=GELUParams, factory=build_gelu)
    registry.register("activation", "silu", params=SiLUParams, factory=build_silu)
    registry.register("activation", "gelu_tanh", params=GELUTanhParams, factory=build_gelu)  # an alias of gelu
    registry.register("activation", "relu_squared", params=ReLUSquaredParams, factory=build_relu_squared)
    registry.register("activation", "tanh", params=TanhParams, factory=build_tanh)
    registry.register("activation", "softmax", params=SoftmaxParams, factory=build_softmax)

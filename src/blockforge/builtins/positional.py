"""Built-in positional encodings: parameter models and factories.

``sinusoidal`` and ``learned`` are added to the embeddings; ``rope`` and ``alibi`` act inside attention
(the model hands their per-forward state to every block as ``positions=``, and their parameter models
declare ``attention_positions = True`` so that validation can check that every mixer applies them);
``none`` does neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn


class SinusoidalParams(Params):
    """Fixed sin/cos encoding added to the embeddings (the seed's; no parameters)."""

    base: float = Field(default=10000.0, gt=1.0)
    """Wavelength base."""

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Contracts of the encoding.

        Args:
            ctx: the model's build context.

        Returns:
            ``("", message)`` for an odd ``d_model`` (sin and cos fill pairs of features).
        """
        if ctx.d_model % 2:
            yield "", f"sinusoidal encoding needs an even d_model, got {ctx.d_model}"


class LearnedParams(Params):
    """A learned table of max_len position vectors added to the embeddings (GPT-2, BERT)."""


class NoPositionalParams(Params):
    """No position information (NoPE); for recurrent stacks, or attention that should be order-blind."""


class RoPEParams(Params):
    """Rotary position embedding: rotates queries and keys inside attention; nothing is added to embeddings."""

    attention_positions: ClassVar[bool] = True

    theta: float = Field(default=10000.0, gt=1.0)
    """Frequency base (10000 in the paper; 500000 in Llama 3)."""
    fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    """Fraction of each head's features that are rotated (partial rotary; GPT-NeoX: 0.25)."""
    scaling: float = Field(default=1.0, gt=0.0)
    """Linear position scaling (position interpolation): positions are divided by this factor."""


class ALiBiParams(Params):
    """ALiBi: a per-head linear distance penalty on attention scores instead of position embeddings."""

    attention_positions: ClassVar[bool] = True


def build_sinusoidal(p: SinusoidalParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``positional.sinusoidal``.

    Args:
        p: the validated parameters.
        ctx: the build context (``ctx.d_model`` wide, ``ctx.max_len`` positions).

    Returns:
        A :class:`~blockforge.components.positional.SinusoidalPositionalEncoding`.
    """
    from blockforge.components.positional import SinusoidalPositionalEncoding

    return SinusoidalPositionalEncoding(d_model=ctx.d_model, max_len=ctx.max_len, base=p.base)


def build_learned(p: LearnedParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``positional.learned``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (``ctx.max_len`` rows of width ``ctx.d_model``).

    Returns:
        A :class:`~blockforge.components.positional.LearnedPositionalEmbedding`.
    """
    from blockforge.components.positional import LearnedPositionalEmbedding

    return LearnedPositionalEmbedding(d_model=ctx.d_model, max_len=ctx.max_len)


def build_none(p: NoPositionalParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``positional.none``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused).

    Returns:
        A :class:`~blockforge.components.positional.NoPositionalEncoding`.
    """
    from blockforge.components.positional import NoPositionalEncoding

    return NoPositionalEncoding()


def build_rope(p: RoPEParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``positional.rope``.

    Args:
        p: the validated parameters.
        ctx: the build context (unused).

    Returns:
        A :class:`~blockforge.components.positional.RotaryEmbedding`; the model hands its
        ``attention_positions(T)`` to every mixer as ``positions=``.
    """
    from blockforge.components.positional import RotaryEmbedding

    return RotaryEmbedding(theta=p.theta, fraction=p.fraction, scaling=p.scaling)


def build_alibi(p: ALiBiParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``positional.alibi``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused).

    Returns:
        An :class:`~blockforge.components.positional.ALiBi`; the model hands its
        ``attention_positions(T)`` to every mixer as ``positions=``.
    """
    from blockforge.components.positional import ALiBi

    return ALiBi()


def register(registry: Registrar) -> None:
    """Register the built-in positional encodings."""
    registry.register("positional", "sinusoidal", params=SinusoidalParams, factory=build_sinusoidal)
    registry.register("positional", "learned", params=LearnedParams, factory=build_learned)
    registry.register("positional", "none", params=NoPositionalParams, factory=build_none)
    registry.register("positional", "rope", params=RoPEParams, factory=build_rope)
    registry.register("positional", "alibi", params=ALiBiParams, factory=build_alibi)

"""Built-in positional encodings: parameter models and factories.

``sinusoidal`` and ``learned`` are added to the embeddings; ``rope`` and ``alibi`` act inside attention
(the model hands their per-forward state to every block as ``positions=``, and their parameter models
declare ``attention_positions = True`` so that validation can check that every mixer applies them);
``none`` does neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

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
    interleaved: bool = False
    """Rotate adjacent feature pairs (x0, x1), (x2, x3), ... (GPT-J, Cohere) instead of the first and second
    half of the rotated features (GPT-NeoX, Llama)."""
    scaling: float = Field(default=1.0, gt=0.0)
    """The context-extension factor of ``scaling_type`` (linear: frequencies are divided by it)."""
    scaling_type: Literal["linear", "dynamic", "yarn", "llama3", "longrope"] = "linear"
    """How the frequencies are scaled for a longer context (formulas and papers:
    ``blockforge.components.rope_scaling``): ``linear`` (position interpolation), ``dynamic`` (NTK base
    growing past ``max_len``), ``yarn``, ``llama3`` (Llama 3.1), ``longrope`` (Phi-3)."""
    original_max_len: Annotated[int, Field(gt=0)] | None = None
    """The pre-training context length (yarn, llama3, longrope)."""
    low_freq_factor: float = Field(default=1.0, gt=0.0)
    """llama3: wavelengths above ``original_max_len / low_freq_factor`` are divided by ``scaling``."""
    high_freq_factor: float = Field(default=4.0, gt=0.0)
    """llama3: wavelengths below ``original_max_len / high_freq_factor`` are kept."""
    beta_fast: float = Field(default=32.0, gt=0.0)
    """yarn: the ramp's extrapolation bound, in rotations over the original context."""
    beta_slow: float = Field(default=1.0, gt=0.0)
    """yarn: the ramp's interpolation bound, in rotations over the original context."""
    truncate: bool = True
    """yarn: round the ramp's bounds to whole dimensions."""
    attention_factor: Annotated[float, Field(gt=0.0)] | None = None
    """yarn, longrope: the factor on cos and sin (None: the paper's default from ``scaling``)."""
    mscale: Annotated[float, Field(gt=0.0)] | None = None
    """yarn: DeepSeek's attention-factor numerator scale (with ``mscale_all_dim``)."""
    mscale_all_dim: Annotated[float, Field(gt=0.0)] | None = None
    """yarn: DeepSeek's attention-factor denominator scale (with ``mscale``)."""
    short_factor: list[Annotated[float, Field(gt=0.0)]] | None = None
    """longrope: per-frequency factors up to ``original_max_len`` positions (rotary_dim / 2 of them)."""
    long_factor: list[Annotated[float, Field(gt=0.0)]] | None = None
    """longrope: per-frequency factors beyond ``original_max_len`` positions."""

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Contracts of the scaling variant.

        Args:
            ctx: the model's build context.

        Returns:
            ``(field, message)`` for a missing ``original_max_len`` (yarn, llama3, longrope), missing or
            unequal longrope factors, ``high_freq_factor <= low_freq_factor`` (llama3), and settings of
            another variant.
        """
        kind = self.scaling_type
        if kind in ("yarn", "llama3", "longrope") and self.original_max_len is None:
            yield "original_max_len", f"scaling_type {kind!r} needs original_max_len (the pre-training context)"
        if kind == "longrope":
            if self.short_factor is None or self.long_factor is None:
                yield "short_factor", "scaling_type 'longrope' needs short_factor and long_factor"
            elif len(self.short_factor) != len(self.long_factor):
                yield "long_factor", (f"short_factor and long_factor need the same length (rotary_dim / 2), got "
                                      f"{len(self.short_factor)} and {len(self.long_factor)}")
        if kind == "llama3" and self.high_freq_factor <= self.low_freq_factor:
            yield "high_freq_factor", "must exceed low_freq_factor"
        uses = {"original_max_len": ("yarn", "llama3", "longrope"), "low_freq_factor": ("llama3",),
                "high_freq_factor": ("llama3",), "beta_fast": ("yarn",), "beta_slow": ("yarn",),
                "truncate": ("yarn",), "attention_factor": ("yarn", "longrope"), "mscale": ("yarn",),
                "mscale_all_dim": ("yarn",), "short_factor": ("longrope",), "long_factor": ("longrope",)}
        for name, kinds in uses.items():
            if kind not in kinds and getattr(self, name) != type(self).model_fields[name].default:
                yield name, f"used only with scaling_type {' or '.join(map(repr, kinds))}, not {kind!r}"

    def rope_scaling(self, max_len: int) -> dict[str, object] | None:
        """The keyword arguments of :class:`~blockforge.components.rope_scaling.RopeScaling`, or None for
        plain (unscaled) RoPE."""
        if self.scaling_type == "linear" and self.scaling == 1.0:
            return None
        return {
            "type": self.scaling_type, "factor": self.scaling, "max_len": max_len,
            "original_max_len": self.original_max_len or max_len, "low_freq_factor": self.low_freq_factor,
            "high_freq_factor": self.high_freq_factor, "beta_fast": self.beta_fast, "beta_slow": self.beta_slow,
            "attention_factor": self.attention_factor, "mscale": self.mscale, "mscale_all_dim": self.mscale_all_dim,
            "truncate": self.truncate, "short_factor": tuple(self.short_factor or ()),
            "long_factor": tuple(self.long_factor or ()),
        }


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
        ctx: the build context (``ctx.max_len``: where ``dynamic`` scaling starts).

    Returns:
        A :class:`~blockforge.components.positional.RotaryEmbedding`; the model hands its
        ``attention_positions(T)`` to every mixer as ``positions=``.
    """
    from blockforge.components.positional import RotaryEmbedding
    from blockforge.components.rope_scaling import RopeScaling

    scaling = p.rope_scaling(ctx.max_len)
    return RotaryEmbedding(theta=p.theta, fraction=p.fraction, interleaved=p.interleaved,
                           rope_scaling=RopeScaling(**scaling) if scaling is not None else None)


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

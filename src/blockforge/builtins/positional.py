"""Built-in positional encodings: parameter models and factories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

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
        if ctx.d_model % 2:
            yield "", f"sinusoidal encoding needs an even d_model, got {ctx.d_model}"


class LearnedParams(Params):
    """A learned table of max_len position vectors added to the embeddings (GPT-2, BERT)."""


def build_sinusoidal(p: SinusoidalParams, ctx: BuildContext) -> nn.Module:
    from blockforge.components.positional import SinusoidalPositionalEncoding

    return SinusoidalPositionalEncoding(d_model=ctx.d_model, max_len=ctx.max_len, base=p.base)


def build_learned(p: LearnedParams, ctx: BuildContext) -> nn.Module:
    from blockforge.components.positional import LearnedPositionalEmbedding

    return LearnedPositionalEmbedding(d_model=ctx.d_model, max_len=ctx.max_len)


def register(registry: Registrar) -> None:
    """Register the built-in positional encodings."""
    registry.register("positional", "sinusoidal", params=SinusoidalParams, factory=build_sinusoidal)
    registry.register("positional", "learned", params=LearnedParams, factory=build_learned)

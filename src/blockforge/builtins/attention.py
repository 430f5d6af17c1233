"""Built-in attention: parameter models and factories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import ConfigDict

from blockforge.builtins._limits import Heads, Probability
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn


class MultiHeadAttentionParams(Params):
    """Multi-head self-attention (fused QKV projection, scaled_dot_product_attention kernel)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"heads": 2}, {"heads": 4, "causal": True, "bias": False}]})

    heads: Heads
    """Number of attention heads; must divide d_model."""
    bias: bool = True
    """Biases on the QKV and output projections."""
    causal: bool = False
    """Forbid attending to later positions (decoders)."""
    dropout: Probability = 0.0
    """Dropout on the attention probabilities."""

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        if ctx.d_model % self.heads:
            yield "heads", f"d_model={ctx.d_model} is not divisible by heads={self.heads}"


def build_mha(p: MultiHeadAttentionParams, ctx: BuildContext) -> nn.Module:
    from blockforge.components.attention import MultiHeadAttention

    return MultiHeadAttention(d_model=ctx.d_model, heads=p.heads, bias=p.bias, causal=p.causal, dropout=p.dropout)


def register(registry: Registrar) -> None:
    """Register the built-in attention variants."""
    registry.register("attention", "mha", params=MultiHeadAttentionParams, factory=build_mha)

"""Built-in heads: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn


class LMHeadParams(Params):
    """Linear projection from d_model to vocabulary logits."""

    bias: bool = False
    """Add an output bias (the seed's fc_out has one)."""
    tied: bool = False
    """Reuse the token embedding matrix as the projection (counted once)."""


def build_lm_head(p: LMHeadParams, ctx: BuildContext) -> nn.Module:
    from blockforge.components.head import LMHead

    return LMHead(d_model=ctx.d_model, vocab_size=ctx.vocab_size, bias=p.bias, tied=p.tied)


def register(registry: Registrar) -> None:
    """Register the built-in heads."""
    registry.register("head", "lm", params=LMHeadParams, factory=build_lm_head)

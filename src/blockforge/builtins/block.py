"""Built-in blocks: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict

from blockforge.builtins._limits import Probability
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import AttentionRef, FeedForwardRef, NormRef, Params

if TYPE_CHECKING:
    from torch import nn


class TransformerBlockParams(Params):
    """Attention and feed-forward sublayers, each with a residual connection and a norm."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"attention": {"type": "mha", "heads": 2}, "feedforward": {"type": "mlp", "hidden": 32}},
                {
                    "attention": {"type": "mha", "heads": 4, "causal": True},
                    "feedforward": {"type": "mlp", "hidden": 32, "activation": "silu"},
                    "norm": "rmsnorm",
                    "norm_position": "post",
                },
            ]
        }
    )

    attention: AttentionRef
    """The attention sublayer, e.g. ``{type: mha, heads: 8}``."""
    feedforward: FeedForwardRef
    """The feed-forward sublayer, e.g. ``{type: mlp, hidden: 2048, activation: relu}``."""
    norm: NormRef = "layernorm"
    """The norm used around both sublayers."""
    norm_position: Literal["pre", "post"] = "pre"
    """``post``: norm(x + sublayer(x)) as in the seed; ``pre``: x + sublayer(norm(x))."""
    dropout: Probability = 0.0
    """Residual dropout on each sublayer's output."""


def build_transformer_block(p: TransformerBlockParams, ctx: BuildContext) -> nn.Module:
    from blockforge.components.block import TransformerBlock

    return TransformerBlock(
        attention=ctx.child(p.attention),
        feedforward=ctx.child(p.feedforward),
        attn_norm=ctx.child(p.norm),
        ff_norm=ctx.child(p.norm),
        norm_position=p.norm_position,
        dropout=p.dropout,
    )


def register(registry: Registrar) -> None:
    """Register the built-in blocks."""
    registry.register("block", "transformer", params=TransformerBlockParams, factory=build_transformer_block)

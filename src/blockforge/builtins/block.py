"""Built-in blocks: parameter models and factories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from blockforge.builtins._limits import Probability
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import AttentionRef, CrossAttentionRef, FeedForwardRef, NormRef, Params
from blockforge.spec.slots import Attends

if TYPE_CHECKING:
    from torch import nn

class TransformerBlockParams(Params):
    """A sequence mixer (attention, LSTM, ...) and a feed-forward sublayer, each with a residual and norms."""

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
                {
                    "attention": {"type": "mha", "heads": 4, "kv_heads": 2, "softcap": 50.0, "window": 4},
                    "feedforward": {"type": "geglu", "hidden": 32},
                    "norm": {"type": "rmsnorm", "unit_offset": True},
                    "norm_position": "sandwich",
                    "layer_scale": 0.1,
                    "drop_path": 0.1,
                },
                {"attention": "lstm", "feedforward": {"type": "swiglu", "hidden": 32}, "norm": "rmsnorm"},
            ]
        }
    )

    attention: AttentionRef
    """The sequence mixer, e.g. ``{type: mha, heads: 8}`` or ``lstm``."""
    feedforward: FeedForwardRef
    """The feed-forward sublayer, e.g. ``{type: mlp, hidden: 2048, activation: relu}``."""
    norm: NormRef = "layernorm"
    """The norm used around both sublayers (two more of it after each sublayer with ``sandwich``)."""
    norm_position: Literal["pre", "post", "sandwich", "output"] = "pre"
    """``post``: norm(x + f(x)) as in the seed; ``pre``: x + f(norm(x)); ``sandwich``: x + norm(f(norm(x)));
    ``output``: x + norm(f(x)) (OLMo 2)."""
    dropout: Probability = 0.0
    """Residual dropout on each sublayer's output."""
    layer_scale: Annotated[float, Field(gt=0.0, le=10.0)] | None = None
    """Initial value of learned per-channel scales on each residual branch (CaiT: 1e-5); null for none."""
    drop_path: Probability = 0.0
    """Stochastic depth: probability of dropping each residual branch per sample in training."""

class ParallelBlockParams(Params):
    """Attention and feed-forward in parallel on the same input: x + attn(norm(x)) + ff(norm(x)) (GPT-J, NeoX)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"attention": {"type": "mha", "heads": 2, "causal": True}, "feedforward": {"type": "mlp", "hidden": 32}},
                {"attention": {"type": "mha", "heads": 2}, "feedforward": {"type": "mlp", "hidden": 32},
                 "ff_norm": "layernorm"},
            ]
        }
    )

    attention: AttentionRef
    """The sequence mixer."""
    feedforward: FeedForwardRef
    """The feed-forward sublayer."""
    norm: NormRef = "layernorm"
    """The norm before attention (and before the feed-forward unless ``ff_norm`` is set)."""
    ff_norm: NormRef | None = None
    """A separate norm before the feed-forward (GPT-NeoX); null shares ``norm``'s output (GPT-J, Falcon)."""
    dropout: Probability = 0.0
    """Residual dropout on each branch."""
    drop_path: Probability = 0.0
    """Stochastic depth: probability of dropping the residual branches per sample in training."""

class DecoderBlockParams(Params):
    """Encoder-decoder decoder block: causal self-attention, cross-attention to the encoder, feed-forward."""

    attends: ClassVar[Attends] = "memory"  # called with memory=: fits the decoder stack, not an LM's

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"attention": {"type": "mha", "heads": 2, "causal": True},
                 "cross_attention": {"type": "cross_mha", "heads": 2}, "feedforward": {"type": "mlp", "hidden": 32}},
                {"attention": {"type": "mha", "heads": 4, "causal": True},
                 "cross_attention": {"type": "cross_mha", "heads": 4, "kv_heads": 2},
                 "feedforward": {"type": "mlp", "hidden": 32}, "norm_position": "pre"},
            ]
        }
    )

    attention: AttentionRef
    """The (causal) self-attention, e.g. ``{type: mha, heads: 8, causal: true}``."""
    cross_attention: CrossAttentionRef
    """Attention to the encoder output: ``{type: cross_mha, heads: 8}`` (a mixer declaring ``attends = "memory"``)."""
    feedforward: FeedForwardRef
    """The feed-forward sublayer."""
    norm: NormRef = "layernorm"
    """The norm around each of the three sublayers."""
    norm_position: Literal["pre", "post"] = "post"
    """``post`` as in the original Transformer, or ``pre``."""
    dropout: Probability = 0.0
    """Residual dropout on each sublayer's output."""

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Contracts of the block's slots.

        Args:
            ctx: the model's build context.

        Returns:
            ``(field, message)`` if ``attention`` is not causal (``causal: false``) or is a bidirectional
            mixer. (What each slot takes, self- or cross-attention, is declared and checked at validation.)
        """
        # A decoder trained with teacher forcing must not see the tokens it predicts. A mixer whose
        # parameters do not say (a plugin without `causal`) is given the benefit of the doubt.
        if getattr(self.attention, "causal", None) is False:
            yield "attention", ("the decoder's self-attention must be causal, or each position sees the "
                                "tokens it is trained to predict: add causal: true")
        if getattr(self.attention, "bidirectional", None) is True:
            yield "attention", ("a bidirectional mixer in the decoder sees the tokens it is trained to "
                                "predict: use bidirectional: false")


def build_transformer_block(p: TransformerBlockParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``block.transformer``: builds every nested component with ``ctx.child``.

    Args:
        p: the validated parameters; ``attention``, ``feedforward`` and the norms are references.
        ctx: the build context of this layer (``ctx.layer`` is its index; ``ctx.d_model`` the width).

    Returns:
        A :class:`~blockforge.components.block.TransformerBlock`, called as
        ``m(x, mask=mask, positions=positions)``.

    Raises:
        ValueError: from the module, for norms that do not match ``norm_position``.
    """
    from blockforge.components.block import TransformerBlock

    sandwich = p.norm_position == "sandwich"
    return TransformerBlock(
        attention=ctx.child(p.attention),
        feedforward=ctx.child(p.feedforward),
        attn_norm=ctx.child(p.norm),
        ff_norm=ctx.child(p.norm),
        attn_post_norm=ctx.child(p.norm) if sandwich else None,
        ff_post_norm=ctx.child(p.norm) if sandwich else None,
        norm_position=p.norm_position,
        dropout=p.dropout,
        layer_scale=p.layer_scale,
        drop_path=p.drop_path,
        d_model=ctx.d_model,
    )


def build_parallel_block(p: ParallelBlockParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``block.parallel``: builds every nested component with ``ctx.child``.

    Args:
        p: the validated parameters; ``attention``, ``feedforward`` and the norms are references.
        ctx: the build context of this layer (``ctx.layer`` is its index; ``ctx.d_model`` the width).

    Returns:
        A :class:`~blockforge.components.block.ParallelBlock`, called as
        ``m(x, mask=mask, positions=positions)``.
    """
    from blockforge.components.block import ParallelBlock

    return ParallelBlock(
        attention=ctx.child(p.attention),
        feedforward=ctx.child(p.feedforward),
        attn_norm=ctx.child(p.norm),
        ff_norm=ctx.child(p.ff_norm) if p.ff_norm is not None else None,
        dropout=p.dropout,
        drop_path=p.drop_path,
    )


def build_decoder_block(p: DecoderBlockParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``block.decoder``: builds every nested component with ``ctx.child``.

    Args:
        p: the validated parameters; ``attention``, ``feedforward`` and the norms are references.
        ctx: the build context of this layer (``ctx.layer`` is its index; ``ctx.d_model`` the width).

    Returns:
        A :class:`~blockforge.components.block.DecoderBlock`, called as
        ``m(x, mask=mask, positions=positions)`` (plus ``memory=`` and ``memory_mask=``).

    Raises:
        ValueError: from the module, for an unknown ``norm_position``.
    """
    from blockforge.components.block import DecoderBlock

    return DecoderBlock(
        attention=ctx.child(p.attention),
        cross_attention=ctx.child(p.cross_attention),
        feedforward=ctx.child(p.feedforward),
        attn_norm=ctx.child(p.norm),
        cross_norm=ctx.child(p.norm),
        ff_norm=ctx.child(p.norm),
        norm_position=p.norm_position,
        dropout=p.dropout,
    )


def register(registry: Registrar) -> None:
    """Register the built-in blocks."""
    registry.register("block", "transformer", params=TransformerBlockParams, factory=build_transformer_block)
    registry.register("block", "parallel", params=ParallelBlockParams, factory=build_parallel_block)
    registry.register("block", "decoder", params=DecoderBlockParams, factory=build_decoder_block)

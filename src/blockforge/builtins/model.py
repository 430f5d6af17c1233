"""Built-in model kinds: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import ConfigDict, Field

from blockforge.builtins._limits import MAX_LAYERS, MAX_LEN, MAX_VOCAB, Probability, Width
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import BlockRef, DecoderBlockRef, EmbeddingRef, HeadRef, NormRef, PositionalRef
from blockforge.spec.plan import LayerPlan, LayerStack

if TYPE_CHECKING:
    from torch import nn


def _attention_positions(positional: object) -> str | None:
    """The name of a positional encoding that acts inside attention, for :attr:`BuildContext.positions`.

    Args:
        positional: a validated positional-encoding reference.

    Returns:
        Its registered name (``"rope"``, ``"alibi"``) if its parameter model declares
        ``attention_positions = True``, else None (the encoding is added to the embeddings, or absent).
    """
    cls = type(positional)
    return getattr(cls, "__blockforge_name__", None) if getattr(cls, "attention_positions", False) else None


class LMParams(LayerStack):
    """Decoder-only language model: embedding, positions, n_layers blocks, optional final norm, head.

    A language model is causal unless its spec says otherwise in so many words: attention that leaves
    ``causal`` unset is causal here (``causal: false`` or a bidirectional recurrence makes a model that sees
    the tokens it predicts, which ``validate`` and ``summary`` name).
    """

    causal_by_default: ClassVar[bool] = True
    """What the mixers of this model do when their spec leaves causality unsaid (``BuildContext.causal``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vocab_size": 50,
                    "d_model": 16,
                    "n_layers": 2,
                    "max_len": 8,
                    "block": {
                        "type": "transformer",
                        "attention": {"type": "mha", "heads": 2},
                        "feedforward": {"type": "mlp", "hidden": 32},
                    },
                }
            ]
        }
    )

    vocab_size: Annotated[int, Field(gt=0, le=MAX_VOCAB)]
    """Number of tokens in the vocabulary."""
    d_model: Width
    """Width of the residual stream (the seed's embed_size)."""
    n_layers: Annotated[int, Field(gt=0, le=MAX_LAYERS)]
    """Number of blocks in the stack."""
    max_len: Annotated[int, Field(gt=0, le=MAX_LEN)]
    """Longest sequence the model accepts."""
    block: BlockRef
    """The block every layer is built from (the base that ``plan`` varies per layer)."""
    embedding: EmbeddingRef = "token"
    """Token embedding."""
    positional: PositionalRef = "sinusoidal"
    """Positional encoding: added to the embeddings (sinusoidal, learned) or applied in attention (rope, alibi)."""
    embedding_norm: NormRef | None = None
    """Norm after the embeddings and positions are summed (BERT), or null."""
    final_norm: NormRef | None = None
    """Norm after the last block (pre-norm stacks usually have one), or null."""
    head: HeadRef = "lm"
    """Output head."""
    dropout: Probability = 0.0
    """Dropout on the summed embeddings."""
    plan: LayerPlan | None = None
    """Per-layer variation of ``block``: named variants, a repeating pattern, overrides by index,
    range or step (see ``blockforge plan``); null: every layer is ``block``."""
    init_std: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    """Initialise linear and embedding weights from N(0, init_std) with zero biases; null keeps
    PyTorch's default initialisation of each module."""

    def build_context(self) -> BuildContext:
        """The context every component of this model is checked and built with.

        Returns:
            A :class:`BuildContext` with this model's ``d_model``, ``vocab_size``, ``max_len`` and ``n_layers``,
            ``positions`` set when the positional encoding acts inside attention, and ``causal`` (True for
            ``lm``, False for ``encoder``).
        """
        return BuildContext(d_model=self.d_model, vocab_size=self.vocab_size, max_len=self.max_len,
                            n_layers=self.n_layers, positions=_attention_positions(self.positional),
                            causal=type(self).causal_by_default)


class EncoderParams(LMParams):
    """Encoder-only model (BERT-like): bidirectional blocks; the head pools, classifies or returns states."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vocab_size": 50,
                    "d_model": 16,
                    "n_layers": 2,
                    "max_len": 8,
                    "positional": "learned",
                    "embedding": {"type": "token", "token_types": 2},
                    "embedding_norm": "layernorm",
                    "block": {
                        "type": "transformer",
                        "norm_position": "post",
                        "attention": {"type": "mha", "heads": 2},
                        "feedforward": {"type": "mlp", "hidden": 32, "activation": "gelu"},
                    },
                    "head": {"type": "classifier", "classes": 3, "pooler": "tanh"},
                }
            ]
        }
    )

    causal_by_default: ClassVar[bool] = False

    head: HeadRef = "hidden"
    """Output head: ``hidden`` (states), ``classifier``, or ``lm`` (masked-LM logits)."""


class EncoderDecoderParams(LayerStack):
    """Encoder-decoder (the original Transformer): an encoder stack, a decoder stack with cross-attention, a head."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vocab_size": 50,
                    "d_model": 16,
                    "n_layers": 2,
                    "n_decoder_layers": 1,
                    "max_len": 8,
                    "block": {
                        "type": "transformer",
                        "norm_position": "post",
                        "attention": {"type": "mha", "heads": 2},
                        "feedforward": {"type": "mlp", "hidden": 32},
                    },
                    "decoder_block": {
                        "type": "decoder",
                        "attention": {"type": "mha", "heads": 2, "causal": True},
                        "cross_attention": {"type": "cross_mha", "heads": 2},
                        "feedforward": {"type": "mlp", "hidden": 32},
                    },
                }
            ]
        }
    )

    vocab_size: Annotated[int, Field(gt=0, le=MAX_VOCAB)]
    """Number of tokens in the (shared) vocabulary."""
    d_model: Width
    """Width of the residual stream."""
    n_layers: Annotated[int, Field(gt=0, le=MAX_LAYERS)]
    """Number of encoder blocks."""
    n_decoder_layers: Annotated[int, Field(gt=0, le=MAX_LAYERS)]
    """Number of decoder blocks."""
    max_len: Annotated[int, Field(gt=0, le=MAX_LEN)]
    """Longest sequence accepted on either side."""
    block: BlockRef
    """The encoder block, e.g. ``{type: transformer, ...}`` with non-causal attention."""
    decoder_block: DecoderBlockRef
    """The decoder block: ``{type: decoder, attention: ..., cross_attention: {type: cross_mha, ...}, ...}``."""
    embedding: EmbeddingRef = "token"
    """Token embedding shared by encoder, decoder (and a tied head)."""
    positional: PositionalRef = "sinusoidal"
    """Positional encoding shared by both sides."""
    plan: LayerPlan | None = None
    """Per-layer variation of the encoder's ``block`` (see ``blockforge plan``); null: every layer is ``block``."""
    encoder_norm: NormRef | None = None
    """Norm on the encoder output (pre-norm stacks), or null."""
    decoder_norm: NormRef | None = None
    """Norm on the decoder output (pre-norm stacks), or null."""
    head: HeadRef = "lm"
    """Output head on the decoder states."""
    dropout: Probability = 0.0
    """Dropout on the summed embeddings."""
    init_std: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    """N(0, init_std) for linear and embedding weights with zero biases; null keeps PyTorch's defaults."""

    def build_context(self) -> BuildContext:
        """The context every component of this model is checked and built with.

        Returns:
            A :class:`BuildContext` (``n_layers`` is the encoder's; decoder layers are numbered after it),
            with ``positions`` set when the shared positional encoding acts inside attention.
        """
        return BuildContext(d_model=self.d_model, vocab_size=self.vocab_size, max_len=self.max_len,
                            n_layers=self.n_layers, positions=_attention_positions(self.positional))

    def decoder_layers(self) -> list[object]:
        """The decoder's per-layer plan.

        Returns:
            ``decoder_block`` once per decoder layer (the decoder stack has no ``plan``).
        """
        return [self.decoder_block] * self.n_decoder_layers


def build_lm(p: LMParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``model.lm`` and ``model.encoder``: every part is built with ``ctx.child``.

    Args:
        p: the validated parameters; ``p.layers()`` gives each layer's resolved block.
        ctx: the model's build context; block ``i`` is built with ``ctx.at_layer(i)``.

    Returns:
        A :class:`~blockforge.components.model.TransformerLM` (``TransformerEncoder`` for ``encoder``),
        called as ``m(ids, mask=mask)``.
    """
    from blockforge.components.model import TransformerEncoder, TransformerLM

    cls = TransformerEncoder if isinstance(p, EncoderParams) else TransformerLM
    return cls(
        embedding=ctx.child(p.embedding),
        positional=ctx.child(p.positional),
        blocks=[ctx.at_layer(i).child(block) for i, block in enumerate(p.layers())],
        final_norm=ctx.child(p.final_norm) if p.final_norm is not None else None,
        head=ctx.child(p.head),
        max_len=p.max_len,
        dropout=p.dropout,
        embedding_norm=ctx.child(p.embedding_norm) if p.embedding_norm is not None else None,
    )


def build_encoder_decoder(p: EncoderDecoderParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``model.encoder_decoder``.

    Args:
        p: the validated parameters.
        ctx: the model's build context; encoder block ``i`` is built at layer ``i``, decoder block ``j``
            at layer ``n_layers + j``.

    Returns:
        An :class:`~blockforge.components.model.EncoderDecoder`, called as
        ``m(ids, mask=mask, decoder_ids=..., decoder_mask=...)``.
    """
    from blockforge.components.model import EncoderDecoder

    n_enc = p.n_layers
    return EncoderDecoder(
        embedding=ctx.child(p.embedding),
        positional=ctx.child(p.positional),
        encoder=[ctx.at_layer(i).child(block) for i, block in enumerate(p.layers())],
        decoder=[ctx.at_layer(n_enc + i).child(block) for i, block in enumerate(p.decoder_layers())],
        encoder_norm=ctx.child(p.encoder_norm) if p.encoder_norm is not None else None,
        decoder_norm=ctx.child(p.decoder_norm) if p.decoder_norm is not None else None,
        head=ctx.child(p.head),
        max_len=p.max_len,
        dropout=p.dropout,
    )


def register(registry: Registrar) -> None:
    """Register the built-in model kinds."""
    registry.register("model", "lm", params=LMParams, factory=build_lm)
    registry.register("model", "encoder", params=EncoderParams, factory=build_lm)
    registry.register("model", "encoder_decoder", params=EncoderDecoderParams, factory=build_encoder_decoder)

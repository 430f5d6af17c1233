"""Built-in model kinds: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import ConfigDict, Field

from blockforge.builtins._limits import MAX_LAYERS, MAX_LEN, MAX_VOCAB, Probability, Width
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import BlockRef, EmbeddingRef, HeadRef, NormRef, PositionalRef
from blockforge.spec.plan import LayerPlan, LayerStack

if TYPE_CHECKING:
    from torch import nn


class LMParams(LayerStack):
    """Token ids to logits: embedding, positional encoding, n_layers blocks, optional final norm, head."""

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
    """Positional encoding added to the embeddings."""
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
        """The context every component of this model is checked and built with."""
        return BuildContext(d_model=self.d_model, vocab_size=self.vocab_size, max_len=self.max_len,
                            n_layers=self.n_layers)


def build_lm(p: LMParams, ctx: BuildContext) -> nn.Module:
    from blockforge.components.model import TransformerLM

    return TransformerLM(
        embedding=ctx.child(p.embedding),
        positional=ctx.child(p.positional),
        blocks=[ctx.at_layer(i).child(block) for i, block in enumerate(p.layers())],
        final_norm=ctx.child(p.final_norm) if p.final_norm is not None else None,
        head=ctx.child(p.head),
        max_len=p.max_len,
        dropout=p.dropout,
    )


def register(registry: Registrar) -> None:
    """Register the built-in model kinds."""
    registry.register("model", "lm", params=LMParams, factory=build_lm)

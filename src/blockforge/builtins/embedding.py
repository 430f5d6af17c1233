"""Built-in token embeddings: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn


class TokenEmbeddingParams(Params):
    """A lookup table of vocab_size vectors of width d_model, optionally scaled, with optional token types."""

    scale: Literal["none", "sqrt_d_model"] = "none"
    """Multiply the vectors by sqrt(d_model) (``sqrt_d_model``: original Transformer, Gemma) or not."""
    token_types: Annotated[int, Field(ge=0, le=1024)] = 0
    """Number of token types (BERT's segment embeddings: 2); 0 for none."""


def build_token(p: TokenEmbeddingParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``embedding.token``.

    Args:
        p: the validated parameters.
        ctx: the build context (``ctx.vocab_size`` rows of width ``ctx.d_model``).

    Returns:
        A :class:`~blockforge.components.embedding.TokenEmbedding`, called as ``m(ids)``.
    """
    from blockforge.components.embedding import TokenEmbedding

    return TokenEmbedding(vocab_size=ctx.vocab_size, d_model=ctx.d_model, scale=p.scale, token_types=p.token_types)


def register(registry: Registrar) -> None:
    """Register the built-in embeddings."""
    registry.register("embedding", "token", params=TokenEmbeddingParams, factory=build_token)

"""Built-in token embeddings: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn


class TokenEmbeddingParams(Params):
    """A lookup table of vocab_size vectors of width d_model."""


def build_token(p: TokenEmbeddingParams, ctx: BuildContext) -> nn.Module:
    from torch import nn

    return nn.Embedding(ctx.vocab_size, ctx.d_model)


def register(registry: Registrar) -> None:
    """Register the built-in embeddings."""
    registry.register("embedding", "token", params=TokenEmbeddingParams, factory=build_token)

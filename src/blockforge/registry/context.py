"""What the builder hands every component factory besides its own parameters.

Torch-free at import: factories import their torch modules lazily, inside the function body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch.nn as nn


@dataclass(frozen=True)
class BuildContext:
    """Shared, explicit build context (the user's spec is never edited to carry it).

    Attributes:
        d_model: the residual stream width.
        vocab_size: the token vocabulary size.
        max_len: the longest sequence the model accepts.
        n_layers: how many blocks the stack has.
        layer: the index of the block being built, or None outside the stack.
        positions: the name of the model's positional encoding when it acts inside attention
            (``"rope"``, ``"alibi"``: every mixer is then called with its per-forward state as
            ``positions=``), or None when positions are added to the embeddings or absent.
        causal: what a sequence mixer does when its spec leaves causality unsaid (``causal: null``): True in
            a language model (``lm``; a decoder block's self-attention), False in an encoder.
        build: builds a nested component reference (``ctx.build(params.attention)``).
    """

    d_model: int
    vocab_size: int
    max_len: int
    n_layers: int
    layer: int | None = None
    positions: str | None = None
    causal: bool = False
    build: Callable[[Any, BuildContext], nn.Module] | None = None

    def child(self, ref: Any) -> nn.Module:
        """Build a nested component reference with this same context.

        Args:
            ref: a validated component reference (a bound parameter model instance).

        Returns:
            The built module.

        Raises:
            RuntimeError: if the context was made without a builder.
        """
        if self.build is None:
            raise RuntimeError("this BuildContext has no builder attached")
        return self.build(ref, self)

    def at_layer(self, layer: int) -> BuildContext:
        """This context for block ``layer`` of a stack.

        Args:
            layer: the block's index (decoder blocks of an encoder-decoder count on from the encoder's).

        Returns:
            A copy with ``layer`` set; everything else unchanged.
        """
        return replace(self, layer=layer)


@dataclass(frozen=True)
class TrainContext:
    """What the factory of a training component (loss, optimizer, schedule) receives besides its parameters.

    Attributes:
        model: the model being trained (an ``nn.Module``; an optimizer takes its parameters, a loss may
            read its auxiliary losses).
        model_context: the model's :class:`BuildContext` (``vocab_size``, ``d_model``, ...).
        steps: the number of optimizer steps of the run (schedules decay over it).
    """

    model: Any
    model_context: BuildContext
    steps: int

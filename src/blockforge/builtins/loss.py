"""Built-in losses (training objectives): parameter models and factories.

A loss's parameter model declares its ``objective`` (``next_token``, ``masked``, ``classification``) as a
class attribute; validation checks it against the model (a next-token loss on a model that sees later
positions is refused). The factory gets a :class:`~blockforge.registry.context.TrainContext` and returns
an ``nn.Module`` with ``prepare(batch, generator=, special=)`` (inputs and labels from token windows) and
``forward(output, labels, aux_loss=None)`` (the mean over the scored targets); see
:mod:`blockforge.components.loss`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field

from blockforge.builtins._limits import Probability
from blockforge.registry.context import TrainContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    from torch import nn

Weight = Annotated[float, Field(ge=0.0, le=1e3)]


class NextTokenParams(Params):
    """Causal language modelling: cross-entropy of each next token (padding not scored; in a conversation every
    turn is, so a small corpus teaches the language of both sides)."""

    objective: ClassVar[str] = "next_token"

    label_smoothing: Probability = 0.0
    """Probability mass spread uniformly over the vocabulary (the original Transformer: 0.1)."""
    z_loss: Weight = 0.0
    """Weight of ``logsumexp(logits)^2`` (PaLM: 1e-4); 0 for none."""
    aux_loss_weight: Weight = 0.01
    """Weight of the model's auxiliary loss (MoE load balancing; Switch Transformer: 0.01); unused without MoE."""


class MaskedLMParams(Params):
    """Masked language modelling (BERT): predict 15 % of the tokens, corrupted 80/10/10, from both sides."""

    objective: ClassVar[str] = "masked"

    mask_probability: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.15
    """Share of the tokens chosen for prediction."""
    label_smoothing: Probability = 0.0
    """Probability mass spread uniformly over the vocabulary."""


class ClassificationParams(Params):
    """Sequence classification: cross-entropy of the head's class scores against one label per sequence."""

    objective: ClassVar[str] = "classification"

    label_smoothing: Probability = 0.0
    """Probability mass spread uniformly over the classes."""


def build_next_token(p: NextTokenParams, ctx: TrainContext) -> nn.Module:
    """Factory of ``loss.next_token``.

    Args:
        p: the validated parameters.
        ctx: the training context (unused).

    Returns:
        A :class:`~blockforge.components.loss.NextTokenLoss`.
    """
    from blockforge.components.loss import NextTokenLoss

    return NextTokenLoss(label_smoothing=p.label_smoothing, z_loss=p.z_loss, aux_loss_weight=p.aux_loss_weight)


def build_masked_lm(p: MaskedLMParams, ctx: TrainContext) -> nn.Module:
    """Factory of ``loss.masked_lm``.

    Args:
        p: the validated parameters.
        ctx: the training context (``ctx.model_context.vocab_size`` bounds random replacements).

    Returns:
        A :class:`~blockforge.components.loss.MaskedLMLoss`.
    """
    from blockforge.components.loss import MaskedLMLoss

    return MaskedLMLoss(mask_probability=p.mask_probability, label_smoothing=p.label_smoothing,
                        vocab_size=ctx.model_context.vocab_size)


def build_classification(p: ClassificationParams, ctx: TrainContext) -> nn.Module:
    """Factory of ``loss.classification``.

    Args:
        p: the validated parameters.
        ctx: the training context (unused).

    Returns:
        A :class:`~blockforge.components.loss.ClassificationLoss`.
    """
    from blockforge.components.loss import ClassificationLoss

    return ClassificationLoss(label_smoothing=p.label_smoothing)


def register(registry: Registrar) -> None:
    """Register the built-in losses."""
    registry.register("loss", "next_token", params=NextTokenParams, factory=build_next_token)
    registry.register("loss", "masked_lm", params=MaskedLMParams, factory=build_masked_lm)
    registry.register("loss", "classification", params=ClassificationParams, factory=build_classification)

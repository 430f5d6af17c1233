"""Built-in heads: parameter models and factories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from blockforge.builtins._limits import Probability
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import ActivationRef, NormRef, Params

if TYPE_CHECKING:
    from torch import nn


class LMHeadParams(Params):
    """Linear projection from d_model to vocabulary logits."""

    produces: ClassVar[str] = "token_logits"
    """What the head returns (a training objective checks it): ``(B, T, vocab_size)`` logits."""

    bias: bool = False
    """Add an output bias (the seed's fc_out has one)."""
    tied: bool = False
    """Reuse the token embedding matrix as the projection (counted once)."""
    softcap: Annotated[float, Field(gt=0.0, le=1e6)] | None = None
    """Final logit soft-cap ``cap * tanh(logits / cap)`` (Gemma 2: 30); null for none."""


class ClassifierParams(Params):
    """Sequence classification: pool the sequence (cls / mean / last), optionally a pooler layer, project."""

    produces: ClassVar[str] = "class_logits"
    """What the head returns (a training objective checks it): ``(B, classes)`` scores."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"classes": 3},
                {"classes": 2, "pooling": "mean", "output": "softmax"},
                {"classes": 4, "pooling": "last", "pooler": "tanh", "dropout": 0.1},
            ]
        }
    )

    classes: Annotated[int, Field(gt=0, le=1 << 20)]
    """Number of classes (outputs)."""
    pooling: Literal["cls", "mean", "last"] = "cls"
    """``cls``: first position (BERT); ``mean``: average of the tokens; ``last``: last token (decoders)."""
    pooler: ActivationRef | None = None
    """Activation of a dense d_model -> d_model layer on the pooled vector (BERT: tanh); null for none."""
    output: ActivationRef | None = None
    """Applied to the logits, e.g. ``softmax`` to return probabilities; null returns logits."""
    dropout: Probability = 0.0
    """Dropout before the projection."""
    bias: bool = True
    """The projection has a bias (BERT's classifier); decoder classifiers (Llama's ``score``) have none."""


class MaskedLMHeadParams(Params):
    """Masked-LM head (BERT, RoBERTa, DistilBERT): dense + activation + norm, then the vocabulary
    projection (tied to the token embedding by default) with an output bias."""

    activation: ActivationRef = "gelu"
    """After the dense layer (BERT: exact GELU)."""
    norm: NormRef | None = "layernorm"
    """After the activation (BERT: LayerNorm, eps 1e-12); null for none."""
    tied: bool = True
    """Reuse the token embedding matrix as the projection (counted once)."""
    bias: bool = True
    """Add an output bias."""


class HiddenStatesParams(Params):
    """No head: the model returns its final hidden states (B, T, d_model)."""

    produces: ClassVar[str] = "states"
    """What the head returns (a training objective checks it): ``(B, T, d_model)`` states."""


def build_lm_head(p: LMHeadParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``head.lm``.

    Args:
        p: the validated parameters.
        ctx: the build context (``ctx.d_model`` in, ``ctx.vocab_size`` out).

    Returns:
        An :class:`~blockforge.components.head.LMHead`, called as ``m(x, embedding=embedding, mask=mask)``
        (a tied head reads ``embedding.weight``).
    """
    from blockforge.components.head import LMHead

    return LMHead(d_model=ctx.d_model, vocab_size=ctx.vocab_size, bias=p.bias, tied=p.tied, softcap=p.softcap)


def build_classifier(p: ClassifierParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``head.classifier``.

    Args:
        p: the validated parameters; ``pooler`` and ``output`` are activation references built with
            ``ctx.child``.
        ctx: the build context (``ctx.d_model``).

    Returns:
        A :class:`~blockforge.components.head.ClassificationHead`, ``(B, T, C) -> (B, classes)``.
    """
    from blockforge.components.head import ClassificationHead

    return ClassificationHead(
        d_model=ctx.d_model, classes=p.classes, pooling=p.pooling,
        pooler=ctx.child(p.pooler) if p.pooler is not None else None,
        output=ctx.child(p.output) if p.output is not None else None, dropout=p.dropout, bias=p.bias,
    )


def build_masked_lm(p: MaskedLMHeadParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``head.masked_lm``.

    Args:
        p: the validated parameters; ``activation`` and ``norm`` are references built with ``ctx.child``.
        ctx: the build context (``ctx.d_model`` in, ``ctx.vocab_size`` out).

    Returns:
        A :class:`~blockforge.components.head.MaskedLMHead`, called as ``m(x, embedding=embedding)``.
    """
    from blockforge.components.head import MaskedLMHead

    return MaskedLMHead(d_model=ctx.d_model, vocab_size=ctx.vocab_size, activation=ctx.child(p.activation),
                        norm=ctx.child(p.norm) if p.norm is not None else None, tied=p.tied, bias=p.bias)


def build_hidden(p: HiddenStatesParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``head.hidden``.

    Args:
        p: the validated parameters (none).
        ctx: the build context (unused).

    Returns:
        A :class:`~blockforge.components.head.HiddenStates` (the identity on the final states).
    """
    from blockforge.components.head import HiddenStates

    return HiddenStates()


def register(registry: Registrar) -> None:
    """Register the built-in heads."""
    registry.register("head", "lm", params=LMHeadParams, factory=build_lm_head)
    registry.register("head", "classifier", params=ClassifierParams, factory=build_classifier)
    registry.register("head", "hidden", params=HiddenStatesParams, factory=build_hidden)
    registry.register("head", "masked_lm", params=MaskedLMHeadParams, factory=build_masked_lm)

"""Built-in feed-forward networks: parameter models and factories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field

from blockforge.builtins._limits import Probability, Width
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import ActivationRef, Params

if TYPE_CHECKING:
    from torch import nn


class MLPParams(Params):
    """Position-wise feed-forward: Linear(d_model, hidden) -> activation -> Linear(hidden, d_model)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"hidden": 32}, {"hidden": 24, "activation": "gelu", "bias": False}]}
    )

    hidden: Width
    """Inner width (the seed's ff_hidden_size, 2048)."""
    activation: ActivationRef = "relu"
    """The activation between the two linear layers."""
    bias: bool = True
    """Biases on both linear layers."""
    dropout: Probability = 0.0
    """Dropout after the activation."""


class GLUParams(Params):
    """Gated feed-forward: down(act(gate(x)) * up(x)); the activation chooses SwiGLU, GeGLU, ReGLU, ..."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"hidden": 32}, {"hidden": 24, "activation": "relu_squared", "bias": True}]}
    )

    hidden: Width
    """Inner width (Llama 3 8B: 14336)."""
    activation: ActivationRef = "silu"
    """The gate's activation."""
    bias: bool = False
    """Biases on the three linear layers."""
    dropout: Probability = 0.0
    """Dropout on the gated hidden state."""


class SwiGLUParams(Params):
    """SwiGLU feed-forward (Llama, Mistral): down(silu(gate(x)) * up(x)); an alias of
    ``{type: glu, activation: silu}`` (validated into it: one architecture, one hash)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"hidden": 32}]})

    hidden: Width
    """Inner width."""
    bias: bool = False
    """Biases on the three linear layers."""
    dropout: Probability = 0.0
    """Dropout on the gated hidden state."""

    def _activation(self) -> Any:
        return "silu"

    def expands_to(self) -> dict[str, Any]:
        """``{type: glu, activation: ...}`` with this alias's widths (see :meth:`Params.expands_to`)."""
        return {"type": "glu", "hidden": self.hidden, "bias": self.bias, "dropout": self.dropout,
                "activation": self._activation()}


class GeGLUParams(SwiGLUParams):
    """GeGLU feed-forward (Gemma: tanh-approximated GELU): down(gelu(gate(x)) * up(x)); an alias of
    ``{type: glu, activation: {type: gelu, approximate: ...}}``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"hidden": 32}, {"hidden": 32, "approximate": "none"}]})

    approximate: Literal["none", "tanh"] = "tanh"
    """GELU form: ``tanh`` approximation (Gemma) or exact ``none``."""

    def _activation(self) -> Any:
        return {"type": "gelu", "approximate": self.approximate}


class ReGLUParams(SwiGLUParams):
    """ReGLU feed-forward: down(relu(gate(x)) * up(x)); an alias of ``{type: glu, activation: relu}``."""

    def _activation(self) -> Any:
        return "relu"


class MoEParams(Params):
    """Top-k mixture of experts (Mixtral, Switch); exposes its load-balancing loss as ``aux_loss``.

    Each expert is a GLU (``down(act(gate(x)) * up(x))``, Mixtral) or an MLP (Switch). The expert is
    described inline rather than as a feed-forward reference, because a feed-forward slot inside a
    feed-forward component would make the spec schema recursive.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"experts": 4, "top_k": 2, "hidden": 16},
                {"experts": 3, "top_k": 1, "hidden": 8, "expert": "mlp", "activation": "gelu", "bias": True},
                {"experts": 4, "top_k": 2, "hidden": 8, "normalize": False, "shared_hidden": 16, "shared_gate": True},
            ]
        }
    )

    experts: Annotated[int, Field(gt=0, le=1024)]
    """Number of experts (Mixtral: 8)."""
    top_k: Annotated[int, Field(gt=0, le=1024)] = 2
    """Experts each token is routed to."""
    hidden: Width
    """Inner width of each expert (Mixtral 8x7B: 14336)."""
    expert: Literal["glu", "mlp"] = "glu"
    """Expert network: ``glu`` (gated, SwiGLU with ``silu``) or ``mlp``."""
    activation: ActivationRef = "silu"
    """The experts' activation."""
    bias: bool = False
    """Biases in the experts' linear layers."""
    normalize: bool = True
    """Renormalise the top-k router probabilities to sum to 1 (Mixtral); false weights each expert by
    its softmax probability over all experts (Qwen-MoE's ``norm_topk_prob: false``)."""
    shared_hidden: Width | None = None
    """Inner width of a shared expert (same kind as the routed ones) that every token passes through,
    added to the routed output (DeepSeekMoE, Qwen2-MoE); null for none."""
    shared_gate: bool = False
    """Scale the shared expert's output per token by ``sigmoid(w . x)`` (Qwen2-MoE); needs ``shared_hidden``."""

    def replicas(self) -> int:
        """The routed experts, plus the shared one."""
        return self.experts + (1 if self.shared_hidden is not None else 0)

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Contracts of the router.

        Args:
            ctx: the model's build context.

        Returns:
            ``(field, message)`` if ``top_k`` exceeds ``experts``, or ``shared_gate`` lacks ``shared_hidden``.
        """
        if self.top_k > self.experts:
            yield "top_k", f"top_k={self.top_k} exceeds experts={self.experts}"
        if self.shared_gate and self.shared_hidden is None:
            yield "shared_gate", "a shared_gate needs a shared expert: set shared_hidden"


def build_mlp(p: MLPParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``feedforward.mlp``.

    Args:
        p: the validated parameters; ``activation`` is a reference built with ``ctx.child``.
        ctx: the build context (``ctx.d_model`` is the width in and out).

    Returns:
        An :class:`~blockforge.components.feedforward.MLP`, called as ``m(x)``.
    """
    from blockforge.components.feedforward import MLP

    return MLP(d_model=ctx.d_model, hidden=p.hidden, activation=ctx.child(p.activation), bias=p.bias, dropout=p.dropout)


def build_glu(p: GLUParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``feedforward.glu``.

    Args:
        p: the validated parameters; ``activation`` is a reference built with ``ctx.child``.
        ctx: the build context (``ctx.d_model`` is the width in and out).

    Returns:
        A :class:`~blockforge.components.feedforward.GLU`, called as ``m(x)``.
    """
    from blockforge.components.feedforward import GLU

    return GLU(d_model=ctx.d_model, hidden=p.hidden, activation=ctx.child(p.activation), bias=p.bias, dropout=p.dropout)


def build_moe(p: MoEParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``feedforward.moe``.

    Args:
        p: the validated parameters; ``activation`` is a reference built with ``ctx.child``.
        ctx: the build context (``ctx.d_model`` is the width in and out).

    Returns:
        A :class:`~blockforge.components.moe.MixtureOfExperts` of ``p.experts`` GLU or MLP experts, called as ``m(x)``.
    """
    from blockforge.components.moe import MixtureOfExperts

    from blockforge.components.feedforward import GLU, MLP

    cls = GLU if p.expert == "glu" else MLP
    experts = [cls(d_model=ctx.d_model, hidden=p.hidden, activation=ctx.child(p.activation), bias=p.bias)
               for _ in range(p.experts)]
    shared = (cls(d_model=ctx.d_model, hidden=p.shared_hidden, activation=ctx.child(p.activation), bias=p.bias)
              if p.shared_hidden is not None else None)
    return MixtureOfExperts(d_model=ctx.d_model, experts=experts, top_k=p.top_k, normalize=p.normalize,
                            shared=shared, shared_gate=p.shared_gate)


def register(registry: Registrar) -> None:
    """Register the built-in feed-forward networks."""
    registry.register("feedforward", "mlp", params=MLPParams, factory=build_mlp)
    registry.register("feedforward", "glu", params=GLUParams, factory=build_glu)
    # aliases of glu: validation replaces them by their expansion, so glu's factory builds them
    registry.register("feedforward", "swiglu", params=SwiGLUParams, factory=build_glu)
    registry.register("feedforward", "geglu", params=GeGLUParams, factory=build_glu)
    registry.register("feedforward", "reglu", params=ReGLUParams, factory=build_glu)
    registry.register("feedforward", "moe", params=MoEParams, factory=build_moe)

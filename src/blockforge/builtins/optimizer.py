"""Built-in optimizers (``torch.optim``): parameter models and factories.

Every factory gets a :class:`~blockforge.registry.context.TrainContext` and returns a
``torch.optim.Optimizer`` over ``ctx.model``'s trainable parameters, split into two groups: with weight
decay, and without it for the parameter categories in ``no_decay`` (by default norms, biases and
embedding/position tables, as in GPT-2/nanoGPT and BERT: decaying a norm's gain or an embedding pulls it
to zero for no regularising benefit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from blockforge.registry.context import TrainContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

if TYPE_CHECKING:
    import torch

LR = Annotated[float, Field(gt=0.0, le=1e3)]
Decay = Annotated[float, Field(ge=0.0, le=1e3)]
Beta = Annotated[float, Field(ge=0.0, lt=1.0)]
Category = Literal["norm", "bias", "embedding"]
NO_DECAY: tuple[Category, ...] = ("norm", "bias", "embedding")


class _Optimizer(Params):
    lr: LR = 3e-4
    """Peak learning rate (the schedule multiplies it)."""
    weight_decay: Decay = 0.0
    """Weight decay (L2 penalty for SGD and Adam, decoupled for AdamW)."""
    no_decay: list[Category] = Field(default_factory=lambda: list(NO_DECAY))
    """Parameter categories without weight decay: ``norm`` (norm gains and biases), ``bias`` (every 1-D
    parameter), ``embedding`` (token, token-type and position tables); ``[]`` decays everything."""


class SGDParams(_Optimizer):
    """Mini-batch stochastic gradient descent, with momentum and Nesterov momentum (``torch.optim.SGD``)."""

    lr: LR = 0.1
    """Learning rate (the schedule multiplies it)."""
    momentum: Beta = 0.9
    """Momentum (0: plain SGD)."""
    nesterov: bool = False
    """Nesterov momentum (needs momentum > 0)."""

    def check(self, ctx: Any) -> Any:
        """Yields ``nesterov`` without momentum (torch refuses it)."""
        if self.nesterov and self.momentum == 0:
            yield "nesterov", "Nesterov momentum needs momentum > 0"


class AdamParams(_Optimizer):
    """Adam (Kingma & Ba 2015; ``torch.optim.Adam``): weight decay as an L2 term in the gradient."""

    betas: Annotated[list[Beta], Field(min_length=2, max_length=2)] = Field(default_factory=lambda: [0.9, 0.999])
    """Decay rates of the first and second moment estimates."""
    eps: Annotated[float, Field(gt=0.0, lt=1.0)] = 1e-8
    """Added to the denominator for numerical stability."""
    fused: bool | None = None
    """torch's fused kernel (one pass over every tensor; 10x faster than the per-tensor loop on CPU for
    gpt2-small); null: fused when every parameter is on a CPU or CUDA device."""


class AdamWParams(AdamParams):
    """AdamW (Loshchilov & Hutter 2019; ``torch.optim.AdamW``): Adam with decoupled weight decay."""

    weight_decay: Decay = 0.01
    """Decoupled weight decay (GPT-2/3 recipes: 0.1)."""


def param_groups(model: Any, *, weight_decay: float, no_decay: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """Split the trainable parameters into a decayed and a non-decayed group.

    A parameter's categories come from the module that owns it (``blockforge_kind`` set by the builder:
    ``norm``, ``embedding``, ``positional``) and its rank (every 1-D tensor is a ``bias``). A tied table is
    seen once, as an embedding.

    Args:
        model: the model.
        weight_decay: the decay of the decayed group.
        no_decay: categories that get no decay.

    Returns:
        ``[{"params": [...], "weight_decay": weight_decay}, {"params": [...], "weight_decay": 0.0}]``,
        empty groups left out, parameters in ``model.named_parameters()`` order.
    """
    categories: dict[int, set[str]] = {}
    for module in model.modules():  # a norm's weight sits in nn.LayerNorm, tagged by the builder
        kind = getattr(module, "blockforge_kind", None)
        if kind in ("norm", "embedding", "positional"):
            for p in module.parameters():
                categories.setdefault(id(p), set()).add("norm" if kind == "norm" else "embedding")
    seen: set[int] = set()
    decay, plain = [], []
    for p in model.parameters():  # each tensor once, even when tied
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        cats = categories.get(id(p), set()) | ({"bias"} if p.dim() < 2 else set())
        (plain if cats & set(no_decay) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _fused(p: AdamParams, groups: list[dict[str, Any]]) -> bool:
    if p.fused is not None:
        return p.fused
    return all(t.device.type in ("cpu", "cuda") and t.is_floating_point() for g in groups for t in g["params"])


def build_sgd(p: SGDParams, ctx: TrainContext) -> torch.optim.Optimizer:
    """Factory of ``optimizer.sgd``.

    Args:
        p: the validated parameters.
        ctx: the training context (``ctx.model``'s parameters are optimised).

    Returns:
        ``torch.optim.SGD`` with the weight-decay groups of :func:`param_groups`.
    """
    import torch

    groups = param_groups(ctx.model, weight_decay=p.weight_decay, no_decay=p.no_decay)
    return torch.optim.SGD(groups, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov)


def build_adam(p: AdamParams, ctx: TrainContext) -> torch.optim.Optimizer:
    """Factory of ``optimizer.adam``.

    Args:
        p: the validated parameters.
        ctx: the training context.

    Returns:
        ``torch.optim.Adam`` with the weight-decay groups of :func:`param_groups`.
    """
    import torch

    groups = param_groups(ctx.model, weight_decay=p.weight_decay, no_decay=p.no_decay)
    return torch.optim.Adam(groups, lr=p.lr, betas=tuple(p.betas), eps=p.eps, fused=_fused(p, groups))


def build_adamw(p: AdamWParams, ctx: TrainContext) -> torch.optim.Optimizer:
    """Factory of ``optimizer.adamw``.

    Args:
        p: the validated parameters.
        ctx: the training context.

    Returns:
        ``torch.optim.AdamW`` with the weight-decay groups of :func:`param_groups`.
    """
    import torch

    groups = param_groups(ctx.model, weight_decay=p.weight_decay, no_decay=p.no_decay)
    return torch.optim.AdamW(groups, lr=p.lr, betas=tuple(p.betas), eps=p.eps, fused=_fused(p, groups))


def register(registry: Registrar) -> None:
    """Register the built-in optimizers."""
    registry.register("optimizer", "sgd", params=SGDParams, factory=build_sgd)
    registry.register("optimizer", "adam", params=AdamParams, factory=build_adam)
    registry.register("optimizer", "adamw", params=AdamWParams, factory=build_adamw)

"""Built-in learning-rate schedules: parameter models and factories.

A schedule's factory gets a :class:`~blockforge.registry.context.TrainContext` (``ctx.steps``: the run's
optimizer steps) and returns a function ``factor(step) -> float`` with ``step`` counted from 0; the trainer
sets each parameter group's learning rate to ``lr * factor(step)`` before optimizer step ``step``. A
schedule has no state but the step, so a resumed run continues it exactly. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from blockforge.registry.context import TrainContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import Params

Steps = Annotated[int, Field(ge=0, le=1 << 40)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Schedule = Callable[[int], float]


def _warmup(step: int, warmup: int) -> float:
    """Linear warm-up: ``(step + 1) / warmup`` during the first ``warmup`` steps, then 1."""
    return (step + 1) / warmup if step < warmup else 1.0


class ConstantParams(Params):
    """A constant learning rate, after an optional linear warm-up."""

    warmup: Steps = 0
    """Steps of linear warm-up from ``lr / warmup`` to ``lr``."""


class CosineParams(Params):
    """Linear warm-up, then cosine decay to ``min_ratio * lr`` at the last step (Loshchilov & Hutter 2017; GPT-3)."""

    warmup: Steps = 0
    """Steps of linear warm-up."""
    min_ratio: Ratio = 0.1
    """The final learning rate as a fraction of ``lr``."""


class WSDParams(Params):
    """Warm-up, stable, decay (Hu et al. 2024, MiniCPM): constant after the warm-up, then a decay over the
    last ``decay`` fraction of the run."""

    warmup: Steps = 0
    """Steps of linear warm-up."""
    decay: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2
    """Fraction of the run spent decaying."""
    min_ratio: Ratio = 0.0
    """The final learning rate as a fraction of ``lr``."""
    shape: Literal["linear", "cosine", "sqrt"] = "linear"
    """Decay curve: linear, half cosine, or ``1 - sqrt`` (Hägele et al. 2024)."""


class InverseSqrtParams(Params):
    """The original Transformer's schedule (Vaswani et al. 2017, 5.3): linear warm-up, then ``1/sqrt(step)``.

    As a factor of ``lr``: ``min((step+1) / warmup, sqrt(warmup / (step+1)))``, which peaks at ``lr`` after
    ``warmup`` steps. The paper's ``d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`` is this schedule with
    ``lr = (d_model * warmup)^-0.5`` (7.0e-4 for d_model 512 and warmup 4000).
    """

    warmup: Annotated[int, Field(gt=0, le=1 << 40)] = 4000
    """Steps of linear warm-up (the paper: 4000)."""


@dataclass(frozen=True)
class _Constant:
    warmup: int

    def __call__(self, step: int) -> float:
        return _warmup(step, self.warmup)


@dataclass(frozen=True)
class _Cosine:
    warmup: int
    steps: int
    min_ratio: float

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return _warmup(step, self.warmup)
        span = max(1, self.steps - 1 - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class _WSD:
    warmup: int
    steps: int
    decay_steps: int
    min_ratio: float
    shape: str

    def __call__(self, step: int) -> float:
        start = self.steps - self.decay_steps
        if step < self.warmup:
            return _warmup(step, self.warmup)
        if step < start:
            return 1.0
        x = min(1.0, (step - start + 1) / self.decay_steps)  # 1 at the last step
        left = {"linear": 1 - x, "cosine": 0.5 * (1 + math.cos(math.pi * x)), "sqrt": 1 - math.sqrt(x)}[self.shape]
        return self.min_ratio + (1 - self.min_ratio) * left


@dataclass(frozen=True)
class _InverseSqrt:
    warmup: int

    def __call__(self, step: int) -> float:
        s = step + 1
        return min(s / self.warmup, math.sqrt(self.warmup / s))


def build_constant(p: ConstantParams, ctx: TrainContext) -> Schedule:
    """Factory of ``schedule.constant``.

    Args:
        p: the validated parameters.
        ctx: the training context (unused).

    Returns:
        ``factor(step)``: the warm-up ramp, then 1.
    """
    return _Constant(p.warmup)


def build_cosine(p: CosineParams, ctx: TrainContext) -> Schedule:
    """Factory of ``schedule.cosine``.

    Args:
        p: the validated parameters.
        ctx: the training context (``ctx.steps``: the decay ends at the last step).

    Returns:
        ``factor(step)``: warm-up, then cosine from 1 to ``min_ratio``.
    """
    return _Cosine(p.warmup, ctx.steps, p.min_ratio)


def build_wsd(p: WSDParams, ctx: TrainContext) -> Schedule:
    """Factory of ``schedule.wsd``.

    Args:
        p: the validated parameters.
        ctx: the training context (``ctx.steps``).

    Returns:
        ``factor(step)``: warm-up, 1, then the decay over the last ``ceil(decay * steps)`` steps.
    """
    return _WSD(p.warmup, ctx.steps, max(1, math.ceil(p.decay * ctx.steps)), p.min_ratio, p.shape)


def build_inverse_sqrt(p: InverseSqrtParams, ctx: TrainContext) -> Schedule:
    """Factory of ``schedule.inverse_sqrt``.

    Args:
        p: the validated parameters.
        ctx: the training context (unused).

    Returns:
        ``factor(step)`` of the original Transformer, peaking at 1 after ``warmup`` steps.
    """
    return _InverseSqrt(p.warmup)


def register(registry: Registrar) -> None:
    """Register the built-in schedules."""
    registry.register("schedule", "constant", params=ConstantParams, factory=build_constant)
    registry.register("schedule", "cosine", params=CosineParams, factory=build_cosine)
    registry.register("schedule", "wsd", params=WSDParams, factory=build_wsd)
    registry.register("schedule", "inverse_sqrt", params=InverseSqrtParams, factory=build_inverse_sqrt)


__all__ = ["Schedule"]

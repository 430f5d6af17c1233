"""The ``parallel:`` section of a spec: how one training step is spread over processes. Torch-free.

```yaml
parallel:
  strategy: fsdp                 # none | ddp | fsdp
  reshard_after_forward: true    # FSDP2: free the gathered weights after forward (ZeRO-3), or keep them
  mixed_precision: {param_dtype: bfloat16, reduce_dtype: float32}   # FSDP2's MixedPrecisionPolicy
```

The global batch stays what ``training:`` says; the per-rank micro-batch and the number of accumulation
steps are derived from it and the world size, which is known only at launch (:func:`rank_batches`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from blockforge.errors import Location, SpecError, SpecIssue, SpecPath

Strategy = Literal["none", "ddp", "fsdp"]
"""``none``: one process (or every process trains alone); ``ddp``: replicated weights, gradients
all-reduced (``torch.nn.parallel.DistributedDataParallel``); ``fsdp``: weights, gradients and optimizer
state sharded (FSDP2 ``torch.distributed.fsdp.fully_shard``, one unit per block plus the root)."""

Dtype = Literal["float32", "bfloat16", "float16"]

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=True)


class MixedPrecision(BaseModel):
    """FSDP2's mixed-precision policy (``torch.distributed.fsdp.MixedPrecisionPolicy``).

    The sharded parameters and the optimizer state stay in the model's dtype; each unit's parameters are
    all-gathered in ``param_dtype`` for forward and backward, and gradients are reduce-scattered in
    ``reduce_dtype``.
    """

    model_config = _MODEL_CONFIG

    param_dtype: Dtype = "bfloat16"
    """dtype of the gathered (unsharded) parameters that forward and backward compute with."""
    reduce_dtype: Dtype = "float32"
    """dtype of the gradient reduce-scatter (float32 keeps the average exact)."""


class Parallel(BaseModel):
    """How training runs on several processes. Absent: ``strategy: none``."""

    model_config = _MODEL_CONFIG

    strategy: Strategy = "none"
    """``none``, ``ddp`` or ``fsdp`` (see ``docs/distributed.md``)."""
    reshard_after_forward: bool = True
    """fsdp: free each unit's gathered parameters after its forward and gather them again for backward
    (ZeRO-3: least memory, 3 parameter-sized transfers per step); false keeps them from forward to backward
    (2 transfers, more memory)."""
    mixed_precision: MixedPrecision | None = None
    """fsdp: compute and communication dtypes; none computes in the model's dtype."""

    @field_validator("strategy", mode="before")
    @classmethod
    def _refuse_tp(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("tp", "tensor", "tensor_parallel"):
            raise ValueError(
                "tensor parallelism (tp) is not supported yet; use strategy: ddp or fsdp "
                "(see docs/distributed.md, 'Tensor parallelism')"
            )
        return value

    @field_validator("mixed_precision")
    @classmethod
    def _fsdp_only(cls, value: MixedPrecision | None, info: ValidationInfo) -> MixedPrecision | None:
        strategy = info.data.get("strategy")
        if value is not None and strategy is not None and strategy != "fsdp":
            raise ValueError(f"mixed_precision applies to strategy: fsdp, not {strategy}; use fsdp, or the "
                             "training precision (autocast) for mixed precision with ddp")
        return value


@dataclass(frozen=True)
class RankBatches:
    """One rank's share of a global batch.

    Attributes:
        global_batch: sequences per optimizer step, over all ranks (``training.batch_size``).
        world_size: number of data-parallel ranks.
        micro_batch: sequences per forward/backward on one rank.
        accumulation: micro-batches per rank per optimizer step.
    """

    global_batch: int
    world_size: int
    micro_batch: int
    accumulation: int

    @property
    def per_rank(self) -> int:
        """Sequences one rank sees per optimizer step (``micro_batch * accumulation``)."""
        return self.micro_batch * self.accumulation


def rank_batches(
    *,
    global_batch: int,
    world_size: int,
    micro_batch: int | None = None,
    locate: Callable[[SpecPath], Location | None] = lambda _p: None,
    batch_path: SpecPath = ("training", "batch_size"),
) -> RankBatches:
    """Split a global batch over ``world_size`` ranks: per-rank micro-batches and accumulation steps.

    ``global_batch = world_size * micro_batch * accumulation``. Without ``micro_batch`` each rank takes
    its whole share at once (``accumulation = 1``).

    Args:
        global_batch: sequences per optimizer step over all ranks.
        world_size: number of data-parallel ranks (>= 1).
        micro_batch: sequences per forward on one rank, or None.
        locate: maps a spec path to its file:line:col (e.g. ``Document.locate``), for the error.
        batch_path: spec path of the global batch size (where the error points).

    Returns:
        The per-rank split.

    Raises:
        SpecError: located at the batch size when the global batch does not divide by
            ``world_size * micro_batch``, with the valid choices in the hint.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    micro = micro_batch if micro_batch is not None else max(global_batch // world_size, 1)
    unit = world_size * micro
    if global_batch % unit == 0 and global_batch > 0:
        return RankBatches(global_batch, world_size, micro, global_batch // unit)
    if micro_batch is None:
        what = f"global batch {global_batch} does not divide by the world size {world_size}"
    else:
        what = (f"global batch {global_batch} does not divide by world size {world_size} x micro-batch "
                f"{micro_batch} = {unit}")
    lower = (global_batch // unit) * unit
    options = sorted({n for n in (lower, lower + unit) if n > 0})
    hint = "use a batch_size of " + " or ".join(map(str, options))
    divisors = [m for m in range(1, global_batch + 1) if global_batch % (world_size * m) == 0]
    if micro_batch is not None and divisors:
        hint += ", or a micro_batch_size of " + ", ".join(map(str, divisors[:6]))
    elif micro_batch is None:
        hint += f", or run on a world size that divides {global_batch}"
    raise SpecError([SpecIssue(batch_path, what, locate(batch_path), hint, "parallel_batch")])


__all__ = ["Dtype", "MixedPrecision", "Parallel", "RankBatches", "Strategy", "rank_batches"]

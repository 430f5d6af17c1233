"""Planning on paper: per-rank memory and communication of data-parallel training. Torch-free.

From one :class:`~blockforge.inspect.stats.Summary` (probed at one rank's micro-batch) and a strategy
(``ddp:N`` or ``fsdp:N``), :func:`plan_parallel` gives what one rank holds and sends per optimizer step.

The accounting is the ZeRO paper's (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
Trillion Parameter Models", sections 3 and 7): with Ψ parameters, model states take ``(w + g + o) Ψ`` bytes
per rank under plain data parallelism (w, g, o: bytes per parameter of weights, gradients and optimizer
state; the paper's mixed-precision Adam has 2 + 2 + 12 = 16) and ``(w + g + o) Ψ / N`` under ZeRO-3 / FSDP
on N ranks. A ring all-reduce of the gradients sends ``2 Ψ (N - 1) / N`` elements per rank; ZeRO-3 / FSDP
sends ``3 Ψ (N - 1) / N`` (all-gather in forward, all-gather in backward, reduce-scatter of the gradients),
1.5x data parallelism; ``2 Ψ`` when the gathered weights are kept from forward to backward
(``reshard_after_forward: false``).

blockforge's own terms, stated in :data:`PARALLEL_CONVENTION`: weights and gradients in the parameters'
dtype, AdamW's two moments in the parameters' dtype (so float32 parameters give 4 + 4 + 8 = 16 bytes per
parameter, the paper's 16), FSDP2 keeping each unit's gathered weights in ``param_dtype`` and reducing in
``reduce_dtype``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from blockforge.inspect.stats import Summary

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8}

PARALLEL_CONVENTION = (
    "per rank, ZeRO accounting (Rajbhandari et al. 2020): weights, gradients and AdamW's two moments in the "
    "parameter dtype, divided by N under fsdp (shard padding ignored); fsdp adds, in param_dtype, the gathered "
    "root unit (embeddings, final norm, head: kept from forward to backward) and two blocks in flight (the "
    "running and the prefetched one; all blocks with reshard_after_forward false), plus one unit's unsharded "
    "gradients in reduce_dtype; activations measured at the micro-batch in the model's dtype; buffers "
    "replicated. Sent bytes: ring collectives, (N-1)/N of each collective's size per rank: ddp all-reduces "
    "gradients once per step (2 psi); fsdp all-gathers the weights in forward and the blocks again in "
    "backward, and reduce-scatters gradients, in every micro-batch (3 psi less the root)"
)


@dataclass(frozen=True)
class ParallelPlan:
    """One rank's share of a data-parallel training step, in bytes.

    Attributes:
        strategy: ``ddp`` or ``fsdp``.
        world_size: number of data-parallel ranks N.
        params: Ψ, unique parameters of the model.
        largest_unit: parameters of the largest FSDP unit (a block, or the root's remainder).
        micro_batch: sequences per forward on one rank (the probe's batch).
        seq_len: tokens per sequence.
        accumulation: micro-batches per rank per optimizer step.
        activation_checkpointing: whether activations assume per-block recomputation.
        weights: weight bytes a rank keeps (replica or shard).
        gradients: gradient bytes a rank keeps.
        optimizer: AdamW state bytes a rank keeps.
        gathered: fsdp only: transient unsharded weights and gradients of the units being computed.
        buffers: buffer bytes (replicated on every rank).
        activations: bytes saved for backward by one micro-batch.
        sent_per_step: bytes one rank sends per optimizer step.
        reshard_after_forward: fsdp's option the plan assumes.
        param_dtype: dtype of gathered weights (fsdp) or of the model.
        reduce_dtype: dtype of the gradient reduction.
    """

    strategy: str
    world_size: int
    params: int
    largest_unit: int
    micro_batch: int
    seq_len: int
    accumulation: int
    activation_checkpointing: bool
    weights: int
    gradients: int
    optimizer: int
    gathered: int
    buffers: int
    activations: int
    sent_per_step: int
    reshard_after_forward: bool
    param_dtype: str
    reduce_dtype: str
    convention: str = PARALLEL_CONVENTION

    @property
    def model_states(self) -> int:
        """Weights + gradients + optimizer state a rank keeps (the ZeRO paper's "model states")."""
        return self.weights + self.gradients + self.optimizer

    @property
    def total(self) -> int:
        """Peak bytes of one rank: model states, gathered units, buffers and activations."""
        return self.model_states + self.gathered + self.buffers + self.activations

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "model_states": self.model_states, "total": self.total}


def parse_parallel(text: str) -> tuple[str, int]:
    """``"fsdp:64"`` -> ``("fsdp", 64)``.

    Raises:
        ValueError: not ``ddp:N`` or ``fsdp:N`` with N >= 1 (``tp:N``: tensor parallelism is not
            supported yet).
    """
    strategy, sep, n = text.partition(":")
    strategy = strategy.strip().lower()
    if strategy in ("tp", "tensor"):
        raise ValueError("tensor parallelism (tp:N) is not supported yet; plan with ddp:N or fsdp:N")
    if strategy not in ("ddp", "fsdp") or not sep or not n.strip().isdigit() or int(n) < 1:
        raise ValueError(f"expected ddp:N or fsdp:N with N >= 1 ranks (e.g. fsdp:64), got {text!r}")
    return strategy, int(n)


def unit_params(s: Summary) -> list[int]:
    """Parameters of each FSDP unit: every top-level block, then the root's remainder (embeddings, head...)."""
    blocks: list[tuple[str, int]] = []
    for r in s.rows:
        if r.kind == "block" and not any(r.name.startswith(b + ".") for b, _ in blocks):
            blocks.append((r.name, r.params))
    return [p for _, p in blocks] + [s.total_params - sum(p for _, p in blocks)]


def checkpointed_activations(s: Summary, dtype_bytes: int) -> int:
    """Activations saved with per-block activation checkpointing, from the measured ones (see plan_parallel)."""
    assert s.memory is not None
    blocks = [r for r in s.rows if r.kind == "block" and r.output_shape]
    top = [r for r in blocks if not any(r.name.startswith(o.name + ".") for o in blocks)]
    if not top:
        return s.memory.activations
    def numel(shape: list[int] | None) -> int:
        n = 1
        for dim in shape or []:
            n *= dim
        return n

    # outside the blocks: the model's output, saved for the loss (the logits of an LM head), kept as is
    outside = min(dtype_bytes * numel(s.rows[0].output_shape), s.memory.activations)
    one_block = (s.memory.activations - outside) // len(top)
    return outside + one_block + len(top) * dtype_bytes * numel(top[0].output_shape)


def _ring(size: float, n: int) -> int:
    """Bytes one rank sends in a ring all-gather or reduce-scatter of ``size`` bytes over ``n`` ranks."""
    return round(size * (n - 1) / n)


def plan_parallel(
    s: Summary,
    *,
    strategy: str,
    world_size: int,
    accumulation: int = 1,
    reshard_after_forward: bool = True,
    param_dtype: str | None = None,
    reduce_dtype: str | None = None,
    activation_checkpointing: bool = False,
) -> ParallelPlan:
    """Per-rank memory and bytes sent per step of training the summarised model on ``world_size`` ranks.

    Args:
        s: the summary, probed at one rank's micro-batch (its ``memory`` measured).
        strategy: ``ddp`` or ``fsdp``.
        world_size: N, data-parallel ranks.
        accumulation: micro-batches per rank per optimizer step.
        reshard_after_forward: fsdp: free gathered weights after forward (gather again in backward).
        param_dtype: fsdp: dtype units are gathered and computed in (default: the parameters' dtype).
        reduce_dtype: dtype gradients are reduced in (default: the parameters' dtype).
        activation_checkpointing: each block keeps only its input for backward and recomputes the rest
            (Chen et al. 2016): activations become the model output kept for the loss, plus one block's
            share of the rest (recomputed in backward), plus one ``(B, T, d_model)`` input per block.

    Returns:
        The plan.

    Raises:
        ValueError: an unknown strategy, N < 1, or a summary without memory statistics.
    """
    if strategy not in ("ddp", "fsdp"):
        raise ValueError(f"strategy must be ddp or fsdp, got {strategy!r}")
    if world_size < 1 or accumulation < 1:
        raise ValueError(f"world_size and accumulation must be >= 1, got {world_size}, {accumulation}")
    if s.memory is None:
        raise ValueError("the summary has no memory statistics")
    n, psi = world_size, s.total_params
    storage = max(s.bytes_by_dtype, key=s.bytes_by_dtype.__getitem__) if s.bytes_by_dtype else "float32"
    b = DTYPE_BYTES.get(storage, 4)
    c = DTYPE_BYTES[param_dtype] if param_dtype else b
    r = DTYPE_BYTES[reduce_dtype] if reduce_dtype else b
    units = unit_params(s)
    blocks, root = units[:-1], units[-1]
    largest = max(units)
    weights, grads, optim = b * psi, b * psi, 2 * b * psi  # AdamW: exp_avg, exp_avg_sq
    if strategy == "ddp":
        c = r = b  # DDP computes and all-reduces in the parameters' dtype
        param_dtype = reduce_dtype = None
        gathered = 0
        sent = 2 * _ring(r * psi, n)  # all-reduce = reduce-scatter + all-gather, once per step (no_sync)
    else:
        weights, grads, optim = -(-weights // n), -(-grads // n), -(-optim // n)
        # the root unit (embeddings, final norm, head) stays gathered from forward to backward; with
        # reshard_after_forward the blocks are gathered two at a time (running + prefetched), else all
        block_flight = min(2 * max(blocks, default=0), sum(blocks)) if reshard_after_forward else sum(blocks)
        gathered = c * (root + block_flight) + r * largest  # + one unit's unsharded gradients
        backward_gather = sum(blocks) if reshard_after_forward else 0
        sent = accumulation * (_ring(c * (psi + backward_gather), n) + _ring(r * psi, n))
    activations = s.memory.activations
    if activation_checkpointing and blocks:
        activations = checkpointed_activations(s, b)
    name = {v: k for k, v in DTYPE_BYTES.items() if k != "float16"}
    return ParallelPlan(
        strategy=strategy, world_size=n, params=psi, largest_unit=largest, micro_batch=s.input_shape[0],
        seq_len=s.input_shape[1], accumulation=accumulation, activation_checkpointing=activation_checkpointing,
        weights=weights, gradients=grads, optimizer=optim,
        gathered=gathered, buffers=s.memory.buffers, activations=activations, sent_per_step=sent,
        reshard_after_forward=reshard_after_forward, param_dtype=param_dtype or name.get(c, storage),
        reduce_dtype=reduce_dtype or name.get(r, storage),
    )


__all__ = ["DTYPE_BYTES", "PARALLEL_CONVENTION", "ParallelPlan", "checkpointed_activations", "parse_parallel",
           "plan_parallel", "unit_params"]

"""Wrap a built model for data-parallel training: DDP, or FSDP2 ``fully_shard`` per block and at the root.

blockforge decides *what* to shard from the model it built (every top-level ``block`` module is one FSDP
unit; the embeddings, final norm and head stay with the root unit); torch does the sharding. Create the
optimizer *after* wrapping: ``fully_shard`` replaces each parameter by a sharded ``DTensor``.

References: torch's FSDP2 (``torch.distributed.fsdp.fully_shard``) docs and its tests
(``test/distributed/_composable/fsdp/test_fully_shard_training.py``); torchtitan's ``apply_fsdp``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from blockforge.distributed.env import DistEnv
from blockforge.errors import BlockforgeError
from blockforge.spec.parallel import MixedPrecision, Parallel

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def block_units(model: nn.Module) -> list[nn.Module]:
    """The modules that become one FSDP unit each: every ``block`` not nested inside another block.

    Built models tag each component with ``blockforge_kind``; an encoder-decoder's two stacks both count.

    Args:
        model: a model built by :func:`blockforge.build_model`.

    Returns:
        The blocks, in module order (empty for a model with no blocks).
    """
    units: list[nn.Module] = []
    inside: set[int] = set()
    for m in model.modules():
        if id(m) in inside:
            continue
        if getattr(m, "blockforge_kind", None) == "block":
            units.append(m)
            inside.update(id(s) for s in m.modules())
    return units


def mixed_precision_policy(mp: MixedPrecision | None):  # noqa: ANN201 - torch type
    """The ``torch.distributed.fsdp.MixedPrecisionPolicy`` of a spec's ``parallel.mixed_precision``."""
    from torch.distributed.fsdp import MixedPrecisionPolicy

    if mp is None:
        return MixedPrecisionPolicy()
    return MixedPrecisionPolicy(param_dtype=_DTYPES[mp.param_dtype], reduce_dtype=_DTYPES[mp.reduce_dtype])


def apply_fsdp(
    model: nn.Module,
    *,
    mesh,  # noqa: ANN001 - torch.distributed.device_mesh.DeviceMesh
    reshard_after_forward: bool = True,
    mixed_precision: MixedPrecision | None = None,
    sum_then_divide: bool | None = None,
) -> nn.Module:
    """Shard ``model`` in place with FSDP2: ``fully_shard`` on every block, then on the root.

    Args:
        model: a materialised model (identical on every rank: same spec, same seed).
        mesh: the 1-D data-parallel device mesh.
        reshard_after_forward: free each unit's gathered parameters after its forward (ZeRO-3).
        mixed_precision: the spec's policy, or None (compute in the parameters' dtype).
        sum_then_divide: reduce gradients with ``SUM`` and divide by the world size afterwards instead of
            ``ReduceOp.AVG``. None: on gloo only, where FSDP2's ``AVG`` reduce-scatter was reported to sum
            without dividing (pytorch/pytorch#162338). On torch 2.13.0 ``AVG`` averages correctly
            (``tests/distributed`` checks both paths); SUM-then-divide is exact on every version.

    Returns:
        ``model`` itself, now an ``FSDPModule``.
    """
    from torch.distributed.fsdp import FSDPModule, fully_shard

    policy = mixed_precision_policy(mixed_precision)
    for block in block_units(model):
        fully_shard(block, mesh=mesh, reshard_after_forward=reshard_after_forward, mp_policy=policy)
    # the root keeps its weights gathered from forward to backward, which starts with them (torch's advice)
    fully_shard(model, mesh=mesh, reshard_after_forward=False, mp_policy=policy)
    if sum_then_divide is None:
        sum_then_divide = _backend(mesh) == "gloo"
    if sum_then_divide:
        for m in model.modules():
            if isinstance(m, FSDPModule):
                m.set_force_sum_reduction_for_comms(True)
    return model


def _backend(mesh) -> str:  # noqa: ANN001
    import torch.distributed as dist

    return str(dist.get_backend(mesh.get_group()))


def apply_ddp(model: nn.Module, *, env: DistEnv) -> nn.Module:
    """Replicate ``model`` with ``DistributedDataParallel`` (gradients all-reduced and averaged).

    Args:
        model: a materialised model on ``env.device``.
        env: this process's place in the job.

    Returns:
        The DDP wrapper; the model is ``wrapper.module``.
    """
    from torch.nn.parallel import DistributedDataParallel

    ids = [env.device.index] if env.device.type == "cuda" else None
    # gradients are views into DDP's all-reduce buckets: one gradient-sized buffer, not two
    return DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True)


def parallelize(model: nn.Module, parallel: Parallel | None, env: DistEnv) -> nn.Module:
    """Apply the spec's ``parallel.strategy`` to a built model.

    Args:
        model: the built model, on ``env.device``.
        parallel: the spec's ``parallel`` section (None: ``strategy: none``).
        env: this process's place in the job.

    Returns:
        The model to train: ``model`` unchanged for ``none`` (or one process without a process group), a
        DDP wrapper for ``ddp``, ``model`` sharded in place for ``fsdp``.

    Raises:
        BlockforgeError: ``none`` on several processes (each rank would train its own copy).
    """
    strategy = parallel.strategy if parallel is not None else "none"
    if strategy == "none":
        if env.world_size > 1:
            raise BlockforgeError(
                f"{env.world_size} processes were started but parallel.strategy is none (each would train its "
                "own copy); set --set parallel.strategy=ddp or fsdp"
            )
        return model
    if not env.distributed:
        return model  # one process, no process group: data parallelism over one rank is the model itself
    if strategy == "ddp":
        return apply_ddp(model, env=env)
    assert parallel is not None
    return apply_fsdp(model, mesh=env.mesh, reshard_after_forward=parallel.reshard_after_forward,
                      mixed_precision=parallel.mixed_precision)


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside a DDP wrapper (an FSDP2 model is its own module)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


@contextlib.contextmanager
def gradient_sync(model: nn.Module, *, enabled: bool) -> Iterator[None]:
    """Run one micro-batch's backward with (``enabled``) or without cross-rank gradient reduction.

    DDP skips the all-reduce of every micro-batch but the last (``no_sync``). FSDP2 reduce-scatters every
    micro-batch, so that gradients stay sharded (no full-size gradient is kept between micro-batches).

    Args:
        model: the wrapped model.
        enabled: True for the last micro-batch of an optimizer step.
    """
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel) and not enabled:
        with model.no_sync():
            yield
    else:
        yield


def total_norm(norm: torch.Tensor) -> torch.Tensor:
    """A gradient norm as a plain tensor: ``clip_grad_norm_`` over FSDP2's DTensors returns a DTensor."""
    full = getattr(norm, "full_tensor", None)
    return full() if full is not None else norm


__all__ = ["apply_ddp", "apply_fsdp", "block_units", "gradient_sync", "mixed_precision_policy", "parallelize",
           "total_norm", "unwrap"]

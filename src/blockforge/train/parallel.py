"""The trainer's :class:`~blockforge.train.strategy.Strategy` for several processes (torch.distributed).

What changes when a run is spread over ranks, and nothing else: the model is wrapped as the spec's
``parallel:`` says (DDP, or FSDP2 per block and root; :mod:`blockforge.distributed.wrap`), each rank takes its
share of every global batch, token counts and losses are summed over ranks, and checkpoint state is written
as DCP shards (:mod:`blockforge.distributed.checkpoint`) that load at any world size. Rank 0 alone logs and
writes the model directory, from weights gathered by every rank (:meth:`DistributedStrategy.exportable`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from blockforge.distributed.env import DistEnv
from blockforge.spec.parallel import Parallel
from blockforge.train.strategy import DCP_DIR, Strategy


class DistributedStrategy(Strategy):
    """Data parallelism over the ranks of a torchrun job.

    Args:
        env: this process's place in the job (:func:`blockforge.distributed.env.init_distributed`).
        parallel: the spec's ``parallel:`` section (None: ``strategy: none``, refused on several ranks).
        registries: where the spec's names resolve when the gathered model is rebuilt (default: built-ins
            and installed plugins).
    """

    #: DDP and FSDP2 average gradients over ranks; the trainer weights micro-batches by global token counts,
    #: so it multiplies its loss by the world size to turn that average back into the sum it means.
    averages_gradients = True

    def __init__(self, *, env: DistEnv, parallel: Parallel | None, registries: Any = None) -> None:
        super().__init__(device=env.device)
        self.registries = registries
        self.env = env
        self.parallel = parallel
        self.rank = env.rank
        self.world_size = env.world_size

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP, or FSDP2 in place (the optimizer is built afterwards, on the sharded parameters)."""
        from blockforge.distributed.wrap import parallelize

        return parallelize(model, self.parallel, self.env)

    def no_sync(self, model: nn.Module, *, last: bool) -> contextlib.AbstractContextManager[Any]:
        from blockforge.distributed.wrap import gradient_sync

        return gradient_sync(model, enabled=last)

    def all_reduce_sum(self, value: Tensor) -> Tensor:
        if not self.env.distributed:
            return value
        out = value.detach().clone().to(self.device)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    def check_same(self, value: str, *, what: str) -> None:
        """Compare ``value`` over all ranks (``all_gather_object`` of a short string)."""
        if not self.env.distributed:
            return
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        differ = [r for r, v in enumerate(values) if v != values[0]]
        if differ:
            from blockforge.errors import BlockforgeError

            raise BlockforgeError(
                f"the {what} differ between rank 0 and rank(s) {', '.join(map(str, differ))}: every process "
                "must read the same files (the same paths on every node) and build the same tokenizer; pass a "
                "tokenizer file (data.tokenizer: {type: file, path: ...}) to train it once")

    def clip_grad_norm(self, model: nn.Module, max_norm: float) -> Tensor:
        """The global norm (a DTensor under FSDP2, made whole) and clipping with it on every rank."""
        from blockforge.distributed.wrap import total_norm

        return total_norm(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))

    def barrier(self) -> None:
        if self.env.distributed:
            dist.barrier()

    def save_state(self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Every rank writes its shards of the model and optimizer state to ``path/dcp``."""
        from blockforge.distributed.checkpoint import save_checkpoint

        save_checkpoint(path / DCP_DIR, model, optimizer)

    def load_state(self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Restore the optimizer (and the weights) from DCP shards, whatever world size wrote them, or from
        the one-process format (:func:`blockforge.train.checkpoint.save_optimizer`)."""
        from blockforge.distributed.checkpoint import load_checkpoint

        if (path / DCP_DIR).is_dir():
            load_checkpoint(path / DCP_DIR, model, optimizer)
        else:
            load_full_optimizer(path, model, optimizer)

    def exportable(self, model: nn.Module) -> nn.Module:
        """A whole model rank 0 can save as a model directory; every rank calls it (FSDP2 gathers)."""
        from blockforge.distributed.wrap import unwrap

        plain = unwrap(model)
        if not _is_sharded(plain):
            return plain
        from blockforge.build import build_model
        from blockforge.distributed.checkpoint import full_model_state_dict

        state = full_model_state_dict(plain)  # collective; whole tensors on rank 0 only
        if not self.is_main:
            return plain
        spec = plain.blockforge_spec
        # the meta build allocates nothing; the gathered tensors become its parameters (non-persistent
        # buffers stay on meta: a model directory holds the state dict only)
        whole = build_model(spec, registries=self.registries, device="meta")
        whole.load_state_dict(state, assign=True)
        return whole


@contextlib.contextmanager
def rank_strategy(spec: Any, *, overrides: Sequence[str] = (), registries: Any = None) -> Iterator[Strategy]:
    """Join the torchrun job this process belongs to and give the trainer its :class:`DistributedStrategy`.

    On success the process leaves the job and ends (:func:`blockforge.distributed.env.exit_launched_process`);
    on an error the process group is torn down without waiting for the other ranks and the error goes on.

    Args:
        spec: the spec source (its ``parallel:`` section decides the wrapping).
        overrides: ``--set`` overrides.
        registries: where the spec's names resolve.
    """
    from blockforge.distributed.env import exit_launched_process, init_distributed
    from blockforge.spec import load_spec

    env = init_distributed()
    try:
        parallel = getattr(load_spec(spec, registries=registries, overrides=overrides), "parallel", None)
        yield DistributedStrategy(env=env, parallel=parallel, registries=registries)
    except BaseException:
        if dist.is_initialized():
            dist.destroy_process_group()
        raise
    exit_launched_process(0)


def check_launch(spec: Any, *, nproc: int, data: Sequence[str] = (), overrides: Sequence[str] = (),
                 registries: Any = None) -> None:
    """Check, before any process starts, that ``nproc`` processes can train ``spec``.

    Args:
        spec: the spec source (path, mapping or None for the packaged default).
        nproc: the number of processes to start (> 1).
        data: ``--data`` paths (they replace ``data.sources``).
        overrides: ``--set`` overrides.
        registries: where the spec's names resolve.

    Raises:
        SpecError: the spec is invalid; ``parallel.strategy`` is ``none`` (each process would train its own
            copy); the global batch does not split over ``nproc`` ranks (located at ``training.batch_size``).
    """
    from blockforge.errors import Location, SpecError, SpecIssue
    from blockforge.spec import load_document, validate_document
    from blockforge.spec.parallel import rank_batches
    from blockforge.train.loop import Trainer, data_overrides

    if registries is None:
        from blockforge.registry.plugins import default_registries

        registries = default_registries()
    doc = load_document(spec, overrides=[*overrides, *data_overrides(data)])
    validated = validate_document(doc, registries)
    parallel = getattr(validated, "parallel", None)
    if parallel is None or parallel.strategy == "none":
        path = ("parallel", "strategy") if parallel is not None else ("parallel",)
        where = doc.locate(path) if parallel is not None else doc.locate(())
        raise SpecError([SpecIssue(
            path, f"--nproc {nproc} starts {nproc} processes, but parallel.strategy is none: each would train "
            "its own copy of the model", where or Location("<spec>"),
            "set `parallel: {strategy: ddp}` (or fsdp) in the spec, or pass --set parallel.strategy=ddp",
            "parallel_strategy")])
    training = Trainer(validated, run_dir=".", document=doc, registries=registries).training
    rank_batches(global_batch=training.batch_size, world_size=nproc, micro_batch=training.micro_batch_size,
                 locate=doc.locate)


def _is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def load_full_optimizer(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Load a one-process optimizer checkpoint (ids in parameter order) into a possibly sharded optimizer.

    The saved state is renamed from parameter positions to canonical names (the optimizer is built the same
    way from the same spec, so positions match) and handed to ``set_optimizer_state_dict`` as a full state
    dict, which each rank cuts to its shards.

    Args:
        path: the checkpoint's ``state`` folder (``optimizer.safetensors`` + ``optimizer.json``).
        model: the wrapped model.
        optimizer: the optimizer to restore.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    from blockforge.distributed.wrap import unwrap
    from blockforge.train.checkpoint import CheckpointError, read_optimizer_state

    loaded = read_optimizer_state(path)
    names = {id(p): n for n, p in unwrap(model).named_parameters()}
    state: dict[str, Any] = {}
    groups: list[dict[str, Any]] = []
    if len(loaded["param_groups"]) != len(optimizer.param_groups):
        raise CheckpointError(f"the optimizer state in {path} has {len(loaded['param_groups'])} parameter groups, "
                              f"this optimizer {len(optimizer.param_groups)}")
    for saved, live in zip(loaded["param_groups"], optimizer.param_groups):
        if len(saved["params"]) != len(live["params"]):
            raise CheckpointError(f"the optimizer state in {path} does not fit this model (group sizes differ)")
        fqns = [names[id(p)] for p in live["params"]]
        for pid, fqn in zip(saved["params"], fqns):
            if pid in loaded["state"]:
                state[fqn] = loaded["state"][pid]
        groups.append({**saved, "params": fqns})
    set_optimizer_state_dict(unwrap(model), optimizer, {"state": state, "param_groups": groups},
                             options=StateDictOptions(full_state_dict=True))


__all__ = ["DCP_DIR", "DistributedStrategy", "check_launch", "load_full_optimizer", "rank_strategy"]

"""How a run is spread over processes. The trainer asks a :class:`Strategy` for everything that changes
when a run is distributed, so data parallelism or sharding plugs in by subclassing it, not by editing the loop:

* ``wrap(model)``: the module the loop calls (DDP, ``fully_shard``, ``torch.compile``, ...);
* ``shard(indices)``: this rank's share of a global batch (the same windows, split by rank);
* ``no_sync(model, last)``: skip the gradient all-reduce on all but the last micro-batch;
* ``all_reduce_sum(value)``: token counts summed over ranks, so every rank weights its micro-batches alike;
* ``clip_grad_norm(model, max_norm)``: the global gradient norm (DTensor-aware under FSDP);
* ``save_state`` / ``load_state``: the model and optimizer state of a checkpoint (DCP shards them);
* ``exportable(model)``: the whole model for the model directory (FSDP gathers it);
* ``check_same(value, what)``: the ranks agree on what each computed alone (the training windows);
* ``any_rank(flag)``: a Ctrl-C seen by one rank stops all of them at the same step;
* ``is_main``: only rank 0 logs, shows progress, writes metrics and the model directory.

:class:`Strategy` itself is one process on one device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

DCP_DIR = "dcp"
"""The sharded model and optimizer state inside a checkpoint's ``state/`` folder (several processes)."""


class Strategy:
    """One process, one device.

    Args:
        device: where the model and batches live.
    """

    rank: int = 0
    world_size: int = 1

    def __init__(self, *, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    @property
    def is_main(self) -> bool:
        """Whether this process logs and writes files shared by the run."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the training loop calls (the same module here).

        Args:
            model: the built model, on ``self.device``.

        Returns:
            The model to call; its parameters are the ones the optimizer updates.
        """
        return model

    def shard(self, indices: Sequence[int]) -> list[int]:
        """This rank's share of a global batch.

        Args:
            indices: the window indices of the whole step, in order.

        Returns:
            A contiguous ``1 / world_size`` of them (all of them here).
        """
        per = len(indices) // self.world_size
        return list(indices[self.rank * per: (self.rank + 1) * per])

    def no_sync(self, model: nn.Module, *, last: bool) -> contextlib.AbstractContextManager[Any]:
        """Context of one micro-batch's backward; ``last`` is the one whose gradients are reduced."""
        return contextlib.nullcontext()

    def all_reduce_sum(self, value: Tensor) -> Tensor:
        """``value`` summed over ranks (itself here)."""
        return value

    def clip_grad_norm(self, model: nn.Module, max_norm: float) -> Tensor:
        """Clip the gradients of ``model`` to a global norm of ``max_norm``.

        Returns:
            The norm before clipping.
        """
        return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for here)."""

    def any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (Ctrl-C reaches the ranks at different steps)."""
        return bool(self.all_reduce_sum(torch.tensor(float(flag), device=self.device)).item() > 0)

    def check_same(self, value: str, *, what: str) -> None:
        """Make sure every rank computed the same ``value`` (nothing to compare here).

        Raises:
            BlockforgeError: on several processes, when ranks differ.
        """

    def exportable(self, model: nn.Module) -> nn.Module:
        """A whole model the main process can write as a model directory; every rank calls it (a sharded
        strategy gathers the weights; here it is ``model``)."""
        return model

    def save_state(self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Write the optimizer state of a checkpoint into ``path`` (``state/``); the weights are written by
        the model directory. A sharded strategy writes both as DCP shards instead.

        Args:
            path: the checkpoint's ``state`` folder (exists).
            model: the trained model.
            optimizer: its optimizer.
        """
        from blockforge.train.checkpoint import save_optimizer

        save_optimizer(optimizer, path)

    def load_state(self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Restore what :meth:`save_state` wrote (the weights are loaded by the trainer from the model directory),
        or the DCP shards several processes wrote (``state/dcp``, at any world size).

        Args:
            path: the checkpoint's ``state`` folder.
            model: the model, already holding the checkpoint's weights.
            optimizer: the optimizer to restore.
        """
        from blockforge.train.checkpoint import load_optimizer

        if (path / DCP_DIR).is_dir():  # written by several processes: DCP reads their shards at one
            from blockforge.distributed.checkpoint import load_checkpoint

            load_checkpoint(path / DCP_DIR, model, optimizer)
        else:
            load_optimizer(optimizer, path)

    @contextlib.contextmanager
    def run(self) -> Iterator[Strategy]:
        """Set up and tear down the process group (nothing here)."""
        yield self

"""Sharded checkpoints with ``torch.distributed.checkpoint`` (DCP): each rank writes its own shards.

Model and optimizer state go through ``get_state_dict`` / ``set_state_dict``
(``torch.distributed.checkpoint.state_dict``), which name every tensor by its canonical FQN whatever the
wrapping (none, DDP, FSDP2). The checkpoint therefore loads at another world size or strategy: saved by 2
FSDP ranks, loaded by 1 plain process, and the reverse; DCP reads only the pieces each rank needs.

Layout of a checkpoint folder (DCP's ``FileSystemWriter``): ``__<rank>_0.distcp`` data files and one
``.metadata`` file, under the keys ``model.<fqn>`` and ``optimizer.state.<fqn>.<name>`` /
``optimizer.param_groups.<fqn>.<name>``. The folder is written under a temporary name and renamed when
every rank has finished, so a crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import shutil
import warnings
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.checkpoint.stateful import Stateful

from blockforge.errors import BlockforgeError

#: Optimizer state keyed by parameter FQN (``state.<fqn>.exp_avg``), as torchtitan saves it.
_OPTIONS = StateDictOptions(flatten_optimizer_state_dict=True)


class ModelState(Stateful):
    """A model's state for DCP: canonical FQNs, sharded tensors stay sharded."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def state_dict(self) -> dict[str, Any]:
        return get_model_state_dict(self.model, options=_OPTIONS)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_model_state_dict(self.model, state_dict, options=_OPTIONS)


class OptimizerState(Stateful):
    """An optimizer's state for DCP, keyed by the FQNs of the parameters it updates."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer

    def state_dict(self) -> dict[str, Any]:
        return get_optimizer_state_dict(self.model, self.optimizer, options=_OPTIONS)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_optimizer_state_dict(self.model, self.optimizer, state_dict, options=_OPTIONS)


def _states(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Stateful]:
    states: dict[str, Stateful] = {"model": ModelState(model)}
    if optimizer is not None:
        states["optimizer"] = OptimizerState(model, optimizer)
    return states


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    return dist.get_rank() if _distributed() else 0


@contextmanager
def _single_process_quiet() -> Iterator[None]:
    """DCP warns that it "assumes the intent" when no process group exists; one process is intended here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
        yield


def _barrier() -> None:
    if _distributed():
        dist.barrier()


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write a sharded checkpoint of ``model`` (and ``optimizer``); every rank calls this.

    Args:
        path: the checkpoint folder (replaced if it exists).
        model: the (wrapped or plain) model.
        optimizer: its optimizer, or None for weights only.

    Returns:
        ``path``.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
    _barrier()
    with _single_process_quiet():
        dcp.save(_states(model, optimizer), checkpoint_id=tmp, no_dist=not _distributed())
    _barrier()
    if _rank() == 0:
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    _barrier()
    return path


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Load a checkpoint written by :func:`save_checkpoint`, at this job's world size and strategy.

    The model must be wrapped (and the optimizer created) as it will train; DCP reads each rank's pieces.

    Args:
        path: the checkpoint folder.
        model: the wrapped model to load into (in place).
        optimizer: its optimizer, or None to load the weights only.

    Raises:
        BlockforgeError: ``path`` is not a DCP checkpoint, or it lacks a tensor the model has.
    """
    path = Path(path)
    if not (path / ".metadata").is_file():
        raise BlockforgeError(f"{path}: not a sharded checkpoint (no .metadata; written by save_checkpoint?)")
    try:
        with _single_process_quiet():
            dcp.load(_states(model, optimizer), checkpoint_id=path, no_dist=not _distributed())
    except (CheckpointException, RuntimeError, KeyError, ValueError) as exc:  # missing keys, shape mismatches
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise BlockforgeError(f"{path}: cannot load into this model: {lines[-1] if lines else exc}") from None


def full_model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole, unsharded model state on CPU, on rank 0 (empty on other ranks); every rank calls this.

    Args:
        model: the (wrapped or plain) model.

    Returns:
        ``{fqn: tensor}`` on rank 0, ``{}`` elsewhere.
    """
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def load_model_weights(path: str | Path, model: nn.Module) -> nn.Module:
    """Read only the weights of a DCP checkpoint into a plain (unwrapped) model, in one process.

    Args:
        path: the checkpoint folder.
        model: a plain model of the same spec (its tensors are overwritten).

    Returns:
        ``model``.
    """
    load_checkpoint(path, model, None)
    return model


__all__ = ["ModelState", "OptimizerState", "full_model_state_dict", "load_checkpoint", "load_model_weights",
           "save_checkpoint"]

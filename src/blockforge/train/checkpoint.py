"""Checkpoint state without pickle: optimizer tensors in safetensors, everything else in JSON.

A checkpoint is a model directory (:mod:`blockforge.modeldir`) plus ``state/``:

* ``optimizer.safetensors`` + ``optimizer.json``: ``optimizer.state_dict()`` split into its tensors and the
  rest (param groups, scalar state);
* ``rng.safetensors``: the random generators' states (dropout, masking); ``rng-rank<r>.safetensors``: the
  dropout stream of rank ``r`` > 0 of a run on several processes;
* ``trainer.json``: step, tokens seen, the spec hash and the data position, written last.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from blockforge._io import atomic_path, write_text_atomic
from blockforge.errors import BlockforgeError

STATE = "state"
TRAINER_FILE = "trainer.json"


class CheckpointError(BlockforgeError):
    """A checkpoint cannot be read or does not belong to this run."""


def save_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Write ``optimizer.state_dict()`` as ``optimizer.safetensors`` (tensors) and ``optimizer.json`` (the rest).

    Args:
        optimizer: any ``torch.optim`` optimizer.
        folder: the ``state`` folder.
    """
    from safetensors.torch import save_file

    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(pid), {})[name] = value
    with atomic_path(folder / "optimizer.safetensors") as tmp:
        save_file(tensors, tmp)
    write_text_atomic(folder / "optimizer.json", json.dumps({"param_groups": sd["param_groups"], "state": plain}))


def load_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Restore an optimizer written by :func:`save_optimizer`.

    Raises:
        CheckpointError: missing or unreadable files, or state for other parameters.
    """
    sd = read_optimizer_state(folder)
    try:
        optimizer.load_state_dict(sd)
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"the optimizer state in {folder} does not fit this model: {exc}") from None


def read_optimizer_state(folder: Path) -> dict[str, Any]:
    """The optimizer state dict :func:`save_optimizer` wrote (``state`` keyed by parameter position).

    Raises:
        CheckpointError: missing or unreadable files.
    """
    from safetensors.torch import load_file

    try:
        meta = json.loads((folder / "optimizer.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "optimizer.safetensors"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read the optimizer state in {folder}: {exc}") from None
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pid, _, name = key.partition(".")
        state.setdefault(int(pid), {})[name] = value
    for pid, entry in meta["state"].items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_rng(folder: Path, generators: dict[str, torch.Generator]) -> None:
    """Write torch's global CPU generator and ``generators`` as ``rng.safetensors``."""
    from safetensors.torch import save_file

    states = {"torch": torch.get_rng_state()}
    states.update({name: g.get_state() for name, g in generators.items()})
    with atomic_path(folder / "rng.safetensors") as tmp:
        save_file(states, tmp)


def load_rng(folder: Path, generators: dict[str, torch.Generator]) -> None:
    """Restore what :func:`save_rng` wrote."""
    from safetensors.torch import load_file

    states = load_file(str(folder / "rng.safetensors"))
    torch.set_rng_state(states["torch"])
    for name, g in generators.items():
        g.set_state(states[name])


RANK_SEED_STRIDE = 1_000_003
"""Rank ``r`` seeds its dropout stream with ``seed + 2 + r * RANK_SEED_STRIDE`` (rank 0: the one-process seed)."""


def save_rank_rng(folder: Path, rank: int) -> None:
    """Write the dropout stream (torch's global CPU generator) of a rank other than 0 as
    ``rng-rank<r>.safetensors``; rank 0's is in ``rng.safetensors``."""
    from safetensors.torch import save_file

    with atomic_path(folder / f"rng-rank{rank}.safetensors") as tmp:
        save_file({"torch": torch.get_rng_state()}, tmp)


def load_rank_rng(folder: Path, rank: int, *, seed: int) -> None:
    """Restore what :func:`save_rank_rng` wrote for ``rank``, or, for a checkpoint written by fewer
    processes, start that rank's dropout stream from ``seed``."""
    from safetensors.torch import load_file

    path = folder / f"rng-rank{rank}.safetensors"
    if path.is_file():
        torch.set_rng_state(load_file(str(path))["torch"])
    else:
        torch.manual_seed(seed)


def write_trainer_state(folder: Path, state: dict[str, Any]) -> None:
    """Write ``trainer.json`` (last: a checkpoint without it is incomplete)."""
    write_text_atomic(folder / TRAINER_FILE, json.dumps(state, indent=2) + "\n")


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """Read ``trainer.json``.

    Raises:
        CheckpointError: missing or malformed.
    """
    try:
        return json.loads((folder / TRAINER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder} holds no complete checkpoint ({TRAINER_FILE}: {exc})") from None


def checkpoints(run_dir: Path) -> list[Path]:
    """The complete checkpoints of a run, oldest first (``checkpoints/step-NNNNNNNN`` with a ``trainer.json``)."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")
             and (p / STATE / TRAINER_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (and leftovers of interrupted writes)."""
    root = run_dir / "checkpoints"
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)
    for old in checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)

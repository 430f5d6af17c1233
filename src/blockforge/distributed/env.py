"""Process-group set-up from the environment torch's launcher (``torchrun``) gives every process.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them, picks the backend (``nccl`` on CUDA, ``gloo`` on CPU), joins the
default process group and builds a 1-D data-parallel device mesh. Without those variables (a plain
``blockforge train``) it returns a single-process :class:`DistEnv` and initialises nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from blockforge.errors import BlockforgeError

#: The variables torchrun sets in every process it starts (torch.distributed.run, "Environment Variables").
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class DistEnv:
    """Where this process stands in a (possibly one-process) job.

    Attributes:
        rank: global rank, 0 .. world_size - 1.
        world_size: number of processes.
        local_rank: rank on this node (selects the CUDA device).
        device: the device this rank computes on.
        backend: ``gloo`` or ``nccl``; None when no process group is initialised.
        mesh: the 1-D ``("dp",)`` device mesh over all ranks, or None for one process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None
    mesh: Any = None

    @property
    def distributed(self) -> bool:
        """True when a process group is initialised (even of size 1)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints progress and writes metrics and model files."""
        return self.rank == 0


def launched(environ: Mapping[str, str] | None = None) -> bool:
    """True when this process was started by torch's launcher (``RANK`` and ``WORLD_SIZE`` are set)."""
    env = os.environ if environ is None else environ
    return "RANK" in env and "WORLD_SIZE" in env


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        raise BlockforgeError(
            f"{name}={env.get(name)!r} in the environment is not an integer; start the processes with "
            "`blockforge train --nproc N` or `torchrun` (docs/distributed.md)"
        ) from None


def init_distributed(
    *, device: str | None = None, environ: Mapping[str, str] | None = None, timeout_s: float = 600.0
) -> DistEnv:
    """Join the process group torch's launcher set up, or stay a single process.

    Args:
        device: ``cpu`` or ``cuda``; None picks CUDA when it is available.
        environ: the environment to read (default ``os.environ``).
        timeout_s: collective timeout.

    Returns:
        The :class:`DistEnv` of this process; ``backend`` is None when not launched by torchrun.

    Raises:
        BlockforgeError: malformed launcher variables, or CUDA asked for but absent.
    """
    env = os.environ if environ is None else environ
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BlockforgeError("device 'cuda' asked for, but torch sees no CUDA device")
    if not launched(env):
        return DistEnv(device=torch.device(device))
    rank, world, local = _int(env, "RANK"), _int(env, "WORLD_SIZE"), _int(env, "LOCAL_RANK")
    if device == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s),
                                device_id=dev if device == "cuda" else None)
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh(dev.type, (world,), mesh_dim_names=("dp",))
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=dev, backend=backend, mesh=mesh)


def shutdown() -> None:
    """Leave the process group (a no-op when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        # every rank leaves together: a gloo rank that tears down while a peer still sends aborts
        # ("terminate called without an active exception")
        dist.barrier()
        dist.destroy_process_group()


def exit_launched_process(code: int = 0) -> None:
    """End a process that torchrun started: leave the process group, flush, and exit without finalizers.

    Gloo's worker threads can still hold references when the interpreter finalizes, which aborts the process
    (SIGABRT, "terminate called without an active exception") after all work is done, and torchrun then
    reports the rank as failed; seen on torch 2.13.0 in about one run in five of ``tests/distributed``
    (pytorch/pytorch#179291 describes the cause). Everything a run writes is closed before this is called.

    Args:
        code: the exit status.
    """
    import sys

    shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextmanager
def distributed(*, device: str | None = None) -> Iterator[DistEnv]:
    """``with distributed() as env:`` — :func:`init_distributed`, then :func:`shutdown` on the way out."""
    env = init_distributed(device=device)
    try:
        yield env
    finally:
        if env.distributed:
            shutdown()


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op for one process)."""
    if env.distributed:
        dist.barrier()


__all__ = ["LAUNCH_VARIABLES", "DistEnv", "barrier", "distributed", "exit_launched_process", "init_distributed",
           "launched", "shutdown"]

"""Start N local processes through torch's own launcher (``torch.distributed.run``, i.e. ``torchrun``).

``blockforge train SPEC --nproc N ...`` becomes ``torchrun --standalone --nproc-per-node N -m blockforge
train SPEC ...``: torch's elastic agent starts the processes, sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
and the rendezvous, and reports a failed rank. For several nodes, call ``torchrun`` yourself
(``docs/distributed.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from blockforge.errors import BlockforgeError

INTERRUPTED = 130
"""The exit status of a process stopped by Ctrl-C after writing its checkpoint (``blockforge train``)."""


def torchrun_args(nproc: int, argv: Sequence[str], *, module: str = "blockforge") -> list[str]:
    """The ``torchrun`` command line that runs ``python -m blockforge ARGV`` on ``nproc`` local processes.

    Args:
        nproc: processes to start on this machine (>= 1).
        argv: the blockforge arguments each process gets (``["train", "spec.yaml", "--out", "run"]``).
        module: the module each process runs.

    Returns:
        Arguments for ``torch.distributed.run.parse_args``.
    """
    if nproc < 1:
        raise BlockforgeError(f"--nproc must be >= 1, got {nproc}")
    return ["--standalone", "--nnodes", "1", "--nproc-per-node", str(nproc), "--module", module, *argv]


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m blockforge ARGV`` on ``nproc`` local processes and wait for them.

    Args:
        nproc: processes to start.
        argv: the blockforge arguments of each process (without ``--nproc``).

    Returns:
        0 when every process succeeded; 130 after Ctrl-C (each process writes a checkpoint and stops).

    Raises:
        BlockforgeError: a process failed (torch's report names the rank, exit code and error).
    """
    import signal

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # torchrun would set 1 thread per process (and say so); share this machine's cores between them instead
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    try:
        run(parse_args(torchrun_args(nproc, argv)))
    except SignalException as exc:
        # the processes run in sessions of their own; torch's agent relays Ctrl-C to each (once), waits for
        # them to write their checkpoint and exit (at most 30 s), then re-raises the signal here
        if exc.sigval == signal.SIGINT:
            return INTERRUPTED
        raise BlockforgeError(f"{nproc}-process run stopped by {exc.sigval.name}") from None
    except ChildFailedError as exc:
        if {f.exitcode for f in exc.failures.values()} == {INTERRUPTED}:
            return INTERRUPTED
        failures = ", ".join(f"rank {r} exited with {f.exitcode}" for r, f in sorted(exc.failures.items()))
        raise BlockforgeError(f"{nproc}-process run failed: {failures} (its messages are above)") from None
    return 0


__all__ = ["launch", "torchrun_args"]

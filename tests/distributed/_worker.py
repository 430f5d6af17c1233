"""Launched by tests/distributed/test_data_parallel.py on 2 gloo ranks (torch.distributed.run).

pytorch/pytorch#162338: FSDP2's ``ReduceOp.AVG`` reduce-scatter on gloo was reported to sum gradients
instead of averaging them. Rank 0 writes, as JSON, the ratio of FSDP2's gradients to one process's gradients
on the same global batch, through ``AVG`` and through blockforge's sum-then-divide path.

    python -m torch.distributed.run --standalone --nproc-per-node 2 _worker.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this script
import _loop as L  # noqa: E402

from blockforge.distributed.env import DistEnv, exit_launched_process, init_distributed  # noqa: E402
from blockforge.distributed.wrap import apply_fsdp  # noqa: E402


def grad_ratio(env: DistEnv, ids: torch.Tensor, *, sum_then_divide: bool) -> float:
    """max |FSDP2 gradient| / |one-process gradient| over parameters, for one global batch ``ids``."""
    ref = L.build()
    L.loss_of(ref, ids).backward()
    model = apply_fsdp(L.build(), mesh=env.mesh, sum_then_divide=sum_then_divide)
    L.loss_of(model, L.rank_rows(ids, env.rank, env.world_size)).backward()
    ratios = []
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        g = p.grad.full_tensor()
        scale = q.grad.abs().max()
        if scale > 1e-6:
            ratios.append((g.abs().max() / scale).item())
            err = (g - q.grad * ratios[-1]).abs().max().item()
            assert err < 1e-5 * max(1.0, ratios[-1]), (name, err)  # a pure scale, not noise
    return max(ratios)


def main(out: Path) -> None:
    env = init_distributed(device="cpu")
    ids = L.batches()[0]
    result = {"world_size": env.world_size,
              "fsdp_grad_ratio_avg": grad_ratio(env, ids, sum_then_divide=False),
              "fsdp_grad_ratio_workaround": grad_ratio(env, ids, sum_then_divide=True)}
    if env.is_main:
        (out / "result.json").write_text(json.dumps(result))
    exit_launched_process(0)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

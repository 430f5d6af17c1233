"""Launched by tests/distributed/test_data_parallel.py on 2 gloo ranks (torch.distributed.run).

One launch runs every check that needs the two processes (each start costs a torch import):
the single-process reference, the FSDP2 gradient average with and without the gloo work-around
(pytorch/pytorch#162338), DDP and FSDP2 over 5 steps, a 2-rank sharded checkpoint at step 3, and
a resume at 2 ranks from the 1-process checkpoint the test wrote. Rank 0 writes the results as JSON.

    python -m torch.distributed.run --standalone --nproc-per-node 2 _worker.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this script
import _loop as L  # noqa: E402

from blockforge.distributed.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from blockforge.distributed.env import exit_launched_process, init_distributed  # noqa: E402
from blockforge.distributed.wrap import apply_fsdp, parallelize  # noqa: E402
from blockforge.spec.parallel import Parallel  # noqa: E402


def grad_ratio(env, data: torch.Tensor, *, sum_then_divide: bool) -> float:  # noqa: ANN001
    """max |FSDP2 gradient| / |single-process gradient| over parameters, for one global batch."""
    ref = L.build()
    L.loss_of(ref, data[0]).backward()
    model = apply_fsdp(L.build(), mesh=env.mesh, sum_then_divide=sum_then_divide)
    L.loss_of(model, L.rank_rows(data[0], env.rank, env.world_size)).backward()
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
    torch.use_deterministic_algorithms(True)
    data = L.batches()
    result: dict = {"world_size": env.world_size}

    ref = L.build()
    ref_opt = L.optimizer(ref)
    result["ref_losses"] = L.train(ref, ref_opt, data, steps=range(L.STEPS))
    ref_params = L.full_params(ref)

    result["fsdp_grad_ratio_avg"] = grad_ratio(env, data, sum_then_divide=False)
    result["fsdp_grad_ratio_workaround"] = grad_ratio(env, data, sum_then_divide=True)

    for strategy in ("ddp", "fsdp"):
        model = parallelize(L.build(), Parallel(strategy=strategy), env)
        opt = L.optimizer(model)
        losses = L.train(model, opt, data, steps=range(3), rank=env.rank, world=env.world_size, micro_batch=1)
        if strategy == "fsdp":
            save_checkpoint(out / "ckpt_w2", model, opt)
        losses += L.train(model, opt, data, steps=range(3, L.STEPS), rank=env.rank, world=env.world_size,
                          micro_batch=1)
        params = L.full_params(model)
        if env.is_main:
            result[f"{strategy}_losses"] = losses
            result[f"{strategy}_param_diff"] = L.max_diff(params, ref_params)

    # resume 1 -> 2: the 1-process checkpoint at step 3 (written by the test), two FSDP ranks go on
    model = parallelize(L.build(), Parallel(strategy="fsdp"), env)
    opt = L.optimizer(model)
    load_checkpoint(out / "ckpt_w1", model, opt)
    losses = L.train(model, opt, data, steps=range(3, L.STEPS), rank=env.rank, world=env.world_size)
    params = L.full_params(model)
    if env.is_main:
        result["resume_1to2_losses"] = losses
        result["resume_1to2_param_diff"] = L.max_diff(params, ref_params)
        (out / "result.json").write_text(json.dumps(result))
    exit_launched_process(0)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Launched on 2 gloo ranks by tests/train/test_parallel.py through torch's launcher:

    python -m torch.distributed.run --standalone --nproc-per-node 2 _parallel_worker.py OUT CONFIG_JSON

Everything that needs two processes but not the command line, in one launch (each start costs a torch
import): FSDP2's gradient average on gloo through ``ReduceOp.AVG`` and through blockforge's sum-then-divide
(pytorch/pytorch#162338), a DDP run of the trainer from step 0, an FSDP2 run that resumes the
one-process checkpoint the test wrote, and a masked-LM run on DDP (random choices per step). Rank 0 writes ``OUT/result.json``; the runs write ``OUT/<name>/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F


def grad_ratio(env, spec: str, ids: torch.Tensor, *, sum_then_divide: bool) -> float:  # noqa: ANN001
    """max |FSDP2 gradient| / |one-process gradient| over parameters, for one global batch ``ids``."""
    import blockforge
    from blockforge.distributed.wrap import apply_fsdp

    def loss_of(model, rows):  # noqa: ANN001, ANN202
        logits = model(rows)  # (B, T, V)
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), rows[:, 1:].reshape(-1))

    ref = blockforge.build_model(spec, seed=0)
    loss_of(ref, ids).backward()
    model = apply_fsdp(blockforge.build_model(spec, seed=0), mesh=env.mesh, sum_then_divide=sum_then_divide)
    per = ids.size(0) // env.world_size
    loss_of(model, ids[env.rank * per:(env.rank + 1) * per]).backward()
    ratios = []
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        g = p.grad.full_tensor()
        scale = q.grad.abs().max()
        if scale > 1e-6:
            ratios.append((g.abs().max() / scale).item())
            err = (g - q.grad * ratios[-1]).abs().max().item()
            assert err < 1e-5 * max(1.0, ratios[-1]), (name, err)  # a pure scale, not noise
    return max(ratios)


def main(out: Path, config: dict) -> None:
    from blockforge.distributed.env import exit_launched_process, init_distributed
    from blockforge.errors import BlockforgeError
    from blockforge.spec.parallel import Parallel
    from blockforge.train import train
    from blockforge.train.parallel import DistributedStrategy

    env = init_distributed(device="cpu")
    ids = torch.randint(0, 320, (4, 16), generator=torch.Generator().manual_seed(0))
    result = {"world_size": env.world_size,
              "fsdp_grad_ratio_avg": grad_ratio(env, config["spec"], ids, sum_then_divide=False),
              "fsdp_grad_ratio_workaround": grad_ratio(env, config["spec"], ids, sum_then_divide=True)}
    for name, strategy, resume in (("ddp", "ddp", False), ("resumed-1to2", "fsdp", True)):
        run = train(config["spec"], out=out / name, data=[config["corpus"]], steps=config["steps"],
                    overrides=config["overrides"], resume=resume,
                    strategy=DistributedStrategy(env=env, parallel=Parallel(strategy=strategy)))
        result[name] = [r["loss"] for r in run.records]
        if name == "ddp":  # the dropout stream of each rank
            seeds: list = [None] * env.world_size
            torch.distributed.all_gather_object(seeds, torch.initial_seed())
            result["dropout_seeds"] = seeds
    run = train(config["masked_lm"], out=out / "masked-lm", strategy=DistributedStrategy(
        env=env, parallel=Parallel(strategy="ddp")))
    result["masked-lm"] = [r["loss"] for r in run.records]
    strategy = DistributedStrategy(env=env, parallel=Parallel(strategy="ddp"))
    strategy.check_same("the same", what="training windows")
    try:
        strategy.check_same(f"rank {env.rank}", what="training windows")
    except BlockforgeError as exc:
        result["check_same"] = str(exc)
    if env.is_main:
        (out / "result.json").write_text(json.dumps(result), encoding="utf-8")
    exit_launched_process(0)


if __name__ == "__main__":
    main(Path(sys.argv[1]), json.loads(sys.argv[2]))

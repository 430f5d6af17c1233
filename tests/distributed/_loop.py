"""A reference data-parallel training loop for the distributed tests (importable from a launched worker).

The trainer on several ranks is tested in ``tests/train/test_parallel.py``; this loop drives the pieces
directly, with the single-process run as the reference: same spec, seed, data and global batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import blockforge
from blockforge.distributed.wrap import gradient_sync

SPEC = {
    "blockforge": 1,
    "model": {
        "type": "lm", "vocab_size": 97, "d_model": 32, "n_layers": 2, "max_len": 16, "positional": "learned",
        "block": {"type": "transformer", "norm_position": "pre", "attention": {"type": "mha", "heads": 4,
                  "causal": True}, "feedforward": {"type": "mlp", "hidden": 64}},
        "final_norm": "layernorm", "head": {"type": "lm", "tied": True}, "init_std": 0.02,
    },
}
GLOBAL_BATCH, SEQ, STEPS, LR = 4, 16, 5, 1e-3


def build() -> nn.Module:
    return blockforge.build_model(SPEC, seed=0)


def batches() -> torch.Tensor:
    """``(STEPS, GLOBAL_BATCH, SEQ)`` token ids, the same on every rank."""
    g = torch.Generator().manual_seed(1234)
    return torch.randint(0, 97, (STEPS, GLOBAL_BATCH, SEQ), generator=g)


def optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)


def loss_of(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    logits = model(ids)  # (B, T, V)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))


def rank_rows(ids: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    per = ids.size(0) // world
    return ids[rank * per:(rank + 1) * per]


def train(model: nn.Module, opt: torch.optim.Optimizer, data: torch.Tensor, *, steps: range, rank: int = 0,
          world: int = 1, micro_batch: int | None = None) -> list[float]:
    """Run ``steps`` of ``data`` (global batches); return the global mean loss of each step."""
    losses = []
    for step in steps:
        mine = rank_rows(data[step], rank, world)
        micro = mine.split(micro_batch or mine.size(0))
        total = torch.zeros(())
        for i, ids in enumerate(micro):
            with gradient_sync(model, enabled=i == len(micro) - 1):
                loss = loss_of(model, ids) / len(micro)
                loss.backward()
            total += loss.detach()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if world > 1:
            dist.all_reduce(total)
            total /= world
        losses.append(total.item())
    return losses


def full_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter whole, by its canonical name (collective under FSDP: every rank calls it)."""
    from blockforge.distributed.checkpoint import full_model_state_dict

    if not (dist.is_available() and dist.is_initialized()):
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    return full_model_state_dict(model)


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys()))
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)

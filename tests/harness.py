"""How each kind of component is called, so registry-driven tests can run any of them."""

from __future__ import annotations

import torch
from torch import nn

B, T, D, V, L = 2, 8, 16, 50, 8


def probe(kind: str, module: nn.Module) -> torch.Tensor:
    """Run ``module`` with inputs of the shape its kind takes; return the output."""
    torch.manual_seed(0)
    x = torch.randn(B, T, D)
    ids = torch.randint(0, V, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, T - 2 :] = 0
    if kind in ("activation", "norm", "feedforward", "positional"):
        return module(x)
    if kind in ("attention", "block"):
        return module(x, mask=mask)
    if kind == "embedding":
        return module(ids)
    if kind == "head":
        return module(x, embedding=nn.Embedding(V, D))
    if kind == "model":
        return module(ids, mask=mask)
    raise AssertionError(f"no calling convention for kind {kind!r}")


def expected_shape(kind: str) -> tuple[int, ...]:
    if kind in ("head", "model"):
        return (B, T, V)
    return (B, T, D)

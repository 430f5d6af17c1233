"""How each kind of component is called, so registry-driven tests can run any of them.

Conventions (see docs/layout.md):
- activation, norm, feedforward, positional: ``module(x)``.
- attention (sequence mixers) and block: ``module(x, mask=mask, positions=positions)``, as the models call
  them (``positions``: RoPE by default, see :func:`attention_positions`); cross-attention (whose
  ``forward`` takes ``memory``) gets ``memory=`` and ``memory_mask=`` instead of ``positions=``, and decoder
  blocks get all four.
- embedding: ``module(ids)``.
- head: ``module(x, embedding=..., mask=mask)``.
- model: ``module(ids, mask=mask)``.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

B, T, D, V, L = 2, 8, 16, 50, 8
S = 5  # length of the memory sequence given to cross-attention


def _takes(module: nn.Module, name: str) -> bool:
    return name in inspect.signature(module.forward).parameters


def attention_positions(encoding: str) -> object | None:
    """What a model with positional encoding ``encoding`` (``none``, ``rope``, ``alibi``) hands its blocks."""
    from blockforge.components.positional import ALiBi, NoPositionalEncoding, RotaryEmbedding

    module = {"none": NoPositionalEncoding, "rope": RotaryEmbedding, "alibi": ALiBi}[encoding]()
    return module.attention_positions(T, device=torch.device("cpu"))


def probe(kind: str, module: nn.Module, *, positions: str = "rope") -> torch.Tensor:
    """Run ``module`` with inputs of the shape its kind takes; return the output.

    Args:
        kind: the component kind, which fixes the call.
        module: the built component.
        positions: the positional encoding whose per-forward state mixers and blocks get as ``positions=``.

    Returns:
        The module's output.
    """
    torch.manual_seed(0)
    x = torch.randn(B, T, D)
    ids = torch.randint(0, V, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, T - 2 :] = 0
    if kind in ("activation", "norm", "feedforward", "positional"):
        return module(x)
    if kind in ("attention", "block"):
        if _takes(module, "memory"):
            memory = torch.randn(B, S, D)
            memory_mask = torch.ones(B, S, dtype=torch.long)
            memory_mask[0, S - 1 :] = 0
            if kind == "attention":
                return module(x, memory=memory, memory_mask=memory_mask)
            return module(x, memory=memory, mask=mask, memory_mask=memory_mask,
                          positions=attention_positions(positions))
        return module(x, mask=mask, positions=attention_positions(positions))
    if kind == "embedding":
        return module(ids)
    if kind == "head":
        return module(x, embedding=nn.Embedding(V, D), mask=mask)
    if kind == "model":
        return module(ids, mask=mask)
    raise AssertionError(f"no calling convention for kind {kind!r}")


def _head_shape(head: nn.Module) -> tuple[int, ...]:
    from blockforge.components.head import HiddenStates

    classes = getattr(head, "classes", None)
    if isinstance(classes, int):
        return (B, classes)
    if isinstance(head, HiddenStates):
        return (B, T, D)
    return (B, T, V)


def expected_shape(kind: str, module: nn.Module | None = None) -> tuple[int, ...]:
    """The output shape of ``module`` (of ``kind``) on :func:`probe`'s inputs."""
    if kind == "head" and module is not None:
        return _head_shape(module)
    if kind == "model" and module is not None and hasattr(module, "head"):
        return _head_shape(module.head)
    if kind in ("head", "model"):
        return (B, T, V)
    return (B, T, D)

"""blockforge's own components, registered through the same hook third-party plugins implement.

One module per kind holds the parameter models (torch-free) and factories (which import torch
inside their bodies).
"""

from __future__ import annotations

from blockforge.builtins import (
    activation,
    attention,
    block,
    embedding,
    feedforward,
    head,
    model,
    norm,
    positional,
)
from blockforge.registry.hookspecs import hookimpl
from blockforge.registry.registry import Registrar

_KINDS = (activation, attention, norm, feedforward, positional, embedding, block, head, model)


@hookimpl
def blockforge_register_components(registry: Registrar) -> None:
    """Register every built-in component."""
    for module in _KINDS:
        module.register(registry)

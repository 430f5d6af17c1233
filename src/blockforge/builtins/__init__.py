"""blockforge's own components, registered through the same hook third-party plugins implement.

One module per kind holds the parameter models (torch-free) and factories (which import torch
inside their bodies). Plugin authors can copy any of them; the contract each follows:

* A parameter model subclasses :class:`blockforge.spec.Params`: one field per parameter, each documented
  by the string under it; value ranges as pydantic constraints (``Field(gt=0)``); components with a
  required parameter declare ``examples``. Contracts that need the model (``d_model % heads``) go in
  ``check(ctx)``, which yields ``(field, message)`` and never raises. A sequence mixer declares
  ``uses_positions`` and a positional encoding that acts in attention ``attention_positions``
  (:data:`blockforge.spec.PositionUse`).
* A factory is ``build_<name>(p, ctx) -> nn.Module``: ``p`` is the validated parameter model, ``ctx`` a
  :class:`blockforge.BuildContext` (``d_model``, ``vocab_size``, ``max_len``, ``n_layers``, ``layer``,
  ``positions``; ``ctx.child(ref)`` builds a nested reference with the same context). It imports torch
  and the module class inside its body, so that importing this package (``blockforge validate``) never
  imports torch. It raises ``ValueError`` only for what the parameter model cannot rule out; the builder
  reports any exception as a ``BuildError`` naming the component. Modules are constructed on the meta
  device and initialised later by ``reset_parameters()``.
"""

from __future__ import annotations

from blockforge.builtins import (
    activation,
    attention,
    block,
    embedding,
    feedforward,
    head,
    loss,
    model,
    norm,
    optimizer,
    positional,
    schedule,
)
from blockforge.registry.hookspecs import hookimpl
from blockforge.registry.registry import Registrar

_KINDS = (activation, attention, norm, feedforward, positional, embedding, block, head, model, loss, optimizer, schedule)


@hookimpl
def blockforge_register_components(registry: Registrar) -> None:
    """Register every built-in component."""
    for module in _KINDS:
        module.register(registry)

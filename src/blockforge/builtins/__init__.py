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
from blockforge.registry.registry import Component, Registrar, Registries

_KINDS = (activation, attention, norm, feedforward, positional, embedding, block, head, model, loss, optimizer, schedule)


@hookimpl
def blockforge_register_components(registry: Registrar) -> None:
    """Register every built-in component."""
    for module in _KINDS:
        module.register(registry)


@hookimpl
def blockforge_check_component(component: Component, registries: Registries) -> None:
    """Check what :meth:`Registry.register` cannot see alone: that a spec can use the component.

    The component's parameter model must bind against the registries (its component slots, if it has
    any, become unions of the registered components), and every example it declares must validate.

    Raises:
        ComponentCheckError: naming the component and what is wrong.
    """
    from pydantic import ValidationError

    from blockforge.registry.plugins import ComponentCheckError
    from blockforge.spec.binding import Binder
    from blockforge.spec.params import examples_of

    try:
        # binds the component slots (if any) of the params model; a model without slots is returned
        # as is, so this costs nothing for most components (no class is derived)
        model = Binder(registries).model(component.params)
    except Exception as exc:  # noqa: BLE001 - pydantic raises several types here
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ComponentCheckError(
            f"{component.qualified_name}: its params model {component.params.__name__} cannot be used in a "
            f"spec: {type(exc).__name__}: {first}"
        ) from exc
    for i, example in enumerate(examples_of(component.params)):
        try:
            model.model_validate(example)
        except ValidationError as exc:
            raise ComponentCheckError(
                f"{component.qualified_name}: example {i} {example!r} does not validate: "
                f"{exc.errors(include_url=False)[0]['msg']}"
            ) from None

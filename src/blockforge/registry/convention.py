"""How the builder calls each kind of component, and the check that a built mixer or block fits it.

Torch-free: the check reads a module's ``forward`` signature and needs no tensors.
"""

from __future__ import annotations

import inspect

from blockforge.registry.kinds import Kind

CALLED_AS: dict[Kind, str] = {
    Kind.ACTIVATION: "m(x)",
    Kind.NORM: "m(x)",
    Kind.FEEDFORWARD: "m(x)",
    Kind.POSITIONAL: "m(x)",
    Kind.ATTENTION: "m(x, mask=mask, positions=positions)",
    Kind.BLOCK: "m(x, mask=mask, positions=positions)",
    Kind.EMBEDDING: "m(ids)",
    Kind.HEAD: "m(x, embedding=embedding, mask=mask)",
    Kind.MODEL: "m(ids, mask=mask)",
}
"""The call each kind of component receives (``docs/plugins.md``, "How each kind is called").
``positions`` is always passed to mixers and blocks: the model's per-forward RoPE/ALiBi state, or None.
Cross-attention (``uses_positions = "cross"``) is called as ``m(x, memory=memory, memory_mask=memory_mask)``
instead, and decoder blocks also get ``memory=`` and ``memory_mask=``. A feed-forward module that declares
``takes_mask = True`` (a mixture of experts: padding is not routed) is called as ``m(x, mask=mask)``."""


def convention_problem(kind: str, params: type, module: object) -> str | None:
    """Why a built module cannot be called the way its kind is called, as far as its signature tells.

    Only mixers and blocks are checked, for the ``positions`` keyword that every one of them receives
    (a ``**kwargs`` catch-all also accepts it).

    Args:
        kind: the component kind.
        params: the component's parameter model class (its ``uses_positions`` exempts cross-attention).
        module: the built module.

    Returns:
        A sentence that says what is wrong and how to fix it, or None if the module fits.
    """
    if kind not in (Kind.ATTENTION, Kind.BLOCK) or getattr(params, "uses_positions", None) == "cross":
        return None
    forward = getattr(module, "forward", None)
    try:
        sig = inspect.signature(forward)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # not introspectable (a C extension): trust it
    accepted = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    p = sig.parameters.get("positions")
    if (p is not None and p.kind in accepted) or any(
        q.kind is inspect.Parameter.VAR_KEYWORD for q in sig.parameters.values()
    ):
        return None
    return (
        f"{type(module).__name__}.forward does not accept positions=; every {kind} is called as "
        f"{CALLED_AS[Kind(kind)]}, so add a keyword-only `positions: object | None = None` parameter "
        "(see docs/plugins.md, 'Positions')"
    )

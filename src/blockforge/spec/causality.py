"""Whether a language model sees the tokens it predicts. Torch-free.

A language model (a model whose build context says ``causal``: ``lm``) is causal unless its spec says
otherwise in so many words. A spec may say so (the seed writes ``causal: false``; a recurrent mixer may be
``bidirectional: true``); then ``validate`` and summaries name the model as not causal, with the layers
and the values that make it so, instead of quietly building a model that cannot be trained to predict
the next token or generate left to right (and has no KV cache). Each mixer says what it does through
:meth:`~blockforge.spec.params.Params.sees_future`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from blockforge.spec.contracts import components


def _layers(indices: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"layers 0-2, 5"``."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] + 1 == i:
            runs[-1].append(i)
        else:
            runs.append([i])
    text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)
    return ("layer " if len(indices) == 1 else "layers ") + text


def _written_at(layer: Any, path: tuple[Any, ...], reason: str, params: BaseModel) -> str:
    """Where the value behind ``reason`` is written: the field it names (``causal``), else the component."""
    field = reason.split(":", 1)[0].strip()
    where = (*path, field) if field in type(params).model_fields else path
    source = layer.source(where)
    spec_path = ".".join(map(str, source.path))
    return f"{spec_path} at {source.location}" if source.location is not None else spec_path


def noncausal_note(spec: BaseModel) -> str | None:
    """The note that names a language model that sees later tokens, or None.

    Args:
        spec: a validated spec (with its resolved plan, ``spec.plan``).

    Returns:
        One sentence naming the model, its layers that see later positions, why and where each reason is
        written, and what to write instead; None for a causal language model and for other models.
    """
    model = getattr(spec, "model", None)
    make_ctx = getattr(model, "build_context", None)
    if make_ctx is None:
        return None
    ctx = make_ctx()
    if not ctx.causal:
        return None
    found: dict[str, tuple[list[int], str]] = {}  # reason -> (layers, where the first is written)
    for stack in getattr(spec, "plan", None) or ():
        if tuple(stack.owner) != ("model",):
            continue
        for layer in stack.layers:
            for path, params in components(layer.block, ()):
                if type(params).__blockforge_kind__ != "attention":
                    continue
                reason = params.sees_future(ctx.at_layer(layer.index))
                if not reason:
                    continue
                label = f"{type(params).__blockforge_name__} {reason}"
                if label not in found:
                    found[label] = ([], _written_at(layer, path, reason, params))
                found[label][0].append(layer.index)
    if not found:
        return None
    kind = type(model).__blockforge_name__ or "language model"
    parts = "; ".join(f"{_layers(layers)}: {label} ({where})" for label, (layers, where) in found.items())
    return (f"not causal: this {kind} sees later tokens, in {parts}. It cannot be trained to predict the next "
            "token or generate left to right, and has no KV cache. A language model is causal unless its spec "
            "says otherwise: drop causal: false / bidirectional: true for a causal one, or use type: encoder "
            "for a bidirectional one")


__all__ = ["noncausal_note"]

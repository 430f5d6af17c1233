"""Which component kind each module belongs to, so totals show where parameters and FLOPs go.

Modules built by blockforge carry the registry kind they were built as (``module.blockforge_kind``).
A module counts towards the outermost kinded ancestor that is not a container (``model``, ``block``):
an activation inside a feed-forward counts as feed-forward. Modules of other models fall back to
their class (``nn.Embedding``, norms) and attribute names (``attn``, ``mlp``, ``lm_head``, ...).
"""

from __future__ import annotations

import re

from torch import nn

#: Kinds that hold other components; their own direct parameters go to ``other``.
CONTAINER_KINDS = frozenset({"model", "block"})
#: Totals are reported in this order (then any plugin kinds, then ``other``).
KIND_ORDER = ("embedding", "positional", "attention", "feedforward", "norm", "head")

_NORMS = (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)
_NAME_RULES = (
    (re.compile(r"(^|_)(attn|attention|self_attn)$"), "attention"),
    (re.compile(r"(^|_)(mlp|ffn|feedforward|feed_forward)$"), "feedforward"),
    (re.compile(r"(^|_)(lm_head|head)$"), "head"),
    (re.compile(r"(^|_)(wpe|pos|positional|position_embeddings)$"), "positional"),
)


def _guess(name: str, module: nn.Module) -> str | None:
    if isinstance(module, nn.Embedding):
        return "embedding"
    if isinstance(module, _NORMS):
        return "norm"
    last = name.rsplit(".", 1)[-1]
    for pattern, kind in _NAME_RULES:
        if pattern.search(last):
            return kind
    return None


def module_kinds(model: nn.Module) -> dict[str, str | None]:
    """Module name -> its own kind (the tag, else a guess for untagged models), or None."""
    tagged = any(hasattr(m, "blockforge_kind") for m in model.modules())
    return {
        name: getattr(m, "blockforge_kind", None) if tagged else _guess(name, m)
        for name, m in model.named_modules()
    }


def kind_roots(kinds: dict[str, str | None]) -> dict[str, str]:
    """Module name -> the kind it counts towards, for the outermost non-container kinded modules."""
    roots: dict[str, str] = {}
    for name, kind in kinds.items():
        if kind is None or kind in CONTAINER_KINDS or not name:
            continue
        parts = name.split(".")
        if any(".".join(parts[:i]) in roots for i in range(1, len(parts))):
            continue  # inside another root
        roots[name] = kind
    return roots


def owner_kind(name: str, roots: dict[str, str]) -> str:
    """The kind a module (or parameter owner) named ``name`` counts towards; ``other`` if none."""
    parts = name.split(".") if name else []
    for i in range(1, len(parts) + 1):
        kind = roots.get(".".join(parts[:i]))
        if kind is not None:
            return kind
    return "other"


def ordered(kinds: set[str]) -> list[str]:
    """Kinds in report order."""
    first = [k for k in KIND_ORDER if k in kinds]
    rest = sorted(k for k in kinds if k not in KIND_ORDER and k != "other")
    return [*first, *rest, *(["other"] if "other" in kinds else [])]


__all__ = ["CONTAINER_KINDS", "kind_roots", "module_kinds", "ordered", "owner_kind"]

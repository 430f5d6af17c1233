"""Canonical form and identity of a validated spec. Torch-free."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel


def _order(value: Any) -> Any:
    if isinstance(value, dict):
        items = {k: _order(v) for k, v in value.items()}
        if "type" in items:  # the discriminator reads first
            return {"type": items.pop("type"), **items}
        return items
    if isinstance(value, list):
        return [_order(v) for v in value]
    return value


def canonical(spec: BaseModel) -> dict[str, Any]:
    """The fully resolved spec as plain JSON-able data.

    Args:
        spec: a validated spec.

    Returns:
        Its dump with every default filled and ``type`` first in each component.
    """
    return _order(spec.model_dump(mode="json"))


def identity(spec: BaseModel) -> dict[str, Any]:
    """The canonical spec with every layer stack written out layer by layer.

    ``layers: [...]`` replaces ``block`` and ``plan``, so that the same stack hashes the same however it
    is expressed. Reads the spec's resolved plan (``spec.plan``); resolves nothing again.

    Args:
        spec: a validated spec.

    Returns:
        The canonical data with resolved layers.
    """
    from blockforge.spec.plan import resolve
    from blockforge.spec.resolved import ResolvedPlan

    data = canonical(spec)
    plan: ResolvedPlan = spec.plan if isinstance(getattr(spec, "plan", None), ResolvedPlan) else resolve(spec)
    for stack in plan:
        node: Any = data
        for part in stack.owner:
            node = node[part]
        node.pop(stack.block_field, None)
        node.pop(stack.plan_field, None)
        node[stack.name] = [_order(layer.params) for layer in stack.layers]
    return data


NOT_ARCHITECTURE = ("name", "description", "training", "data", "parallel")
"""Top-level sections the hash leaves out: names, and how the model is trained (not what it is)."""


def spec_hash(spec: BaseModel | dict[str, Any]) -> str:
    """A stable SHA-256 of the architecture.

    Independent of key order, formatting, file split and of how a layer plan is written (it hashes the
    resolved layers). ``name``, ``description`` and the training sections (:data:`NOT_ARCHITECTURE`) are left
    out: renaming a spec or changing how it is trained does not change the architecture.

    Args:
        spec: a validated spec, or data that is already canonical.

    Returns:
        The hex digest.
    """
    data = identity(spec) if isinstance(spec, BaseModel) else spec
    data = {k: v for k, v in data.items() if k not in NOT_ARCHITECTURE}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()

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
    """The fully resolved spec as plain JSON-able data: defaults filled, ``type`` first in each component."""
    return _order(spec.model_dump(mode="json"))


def spec_hash(spec: BaseModel | dict[str, Any]) -> str:
    """A stable SHA-256 of the architecture: independent of key order, formatting and file split.

    ``name`` and ``description`` are left out: renaming a spec does not change the architecture.
    """
    data = canonical(spec) if isinstance(spec, BaseModel) else spec
    data = {k: v for k, v in data.items() if k not in ("name", "description")}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()

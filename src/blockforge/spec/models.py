"""The top level of a spec file. Everything under ``model`` is a registered component's parameters.

Torch-free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from blockforge.spec.parallel import Parallel
from blockforge.spec.params import ModelRef, Params

FORMAT_VERSION = 1
"""The spec format version this blockforge reads (``blockforge: 1``)."""


class SpecFile(Params):
    """A blockforge spec: format version, a name, and the model (a component of kind ``model``)."""

    blockforge: Literal[1]
    """Spec format version; this release reads version 1."""
    name: str | None = Field(default=None, max_length=200)
    """A short name for the architecture, shown in summaries."""
    description: str | None = Field(default=None, max_length=10_000)
    """Free text."""
    model: ModelRef
    """The model: ``{type: lm, ...}``; see ``blockforge components model``."""
    parallel: Parallel | None = None
    """How training is spread over processes (``strategy: none | ddp | fsdp``); see ``docs/distributed.md``."""

"""The top level of a spec file. Everything under ``model`` is a registered component's parameters.

Torch-free.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr

from blockforge.errors import SpecIssue
from blockforge.spec.parallel import Parallel
from blockforge.spec.params import ModelRef, Params
from blockforge.spec.plan import ResolvedSlot
from blockforge.spec.training import DataSpec, TrainingSpec

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
    training: TrainingSpec | None = None  # how it is trained: loss, optimizer, schedule (spec/training.py)
    data: DataSpec | None = None  # what it is trained on: corpora, tokenizer, held-out split
    parallel: Parallel | None = None
    """How training is spread over processes (``strategy: none | ddp | fsdp``); see ``docs/distributed.md``."""

    _plan: ResolvedSlot = PrivateAttr(default_factory=ResolvedSlot)

    @property
    def plan(self) -> Any:
        """The resolved plan: every layer of every stack, resolved once, with provenance.

        Set by ``load_spec`` (with file:line:col provenance); for a spec validated some other way it is
        resolved here on first use (provenance without locations).

        Returns:
            A :class:`blockforge.spec.resolved.ResolvedPlan`.
        """
        if self._plan.value is None:
            from blockforge.spec.plan import resolve

            self._plan.value = resolve(self)
        return self._plan.value


def format_version_issue(data: Any, locate: Any) -> SpecIssue | None:
    """The one check of the ``blockforge:`` format version (used while composing and validating).

    Args:
        data: the document's top-level data.
        locate: ``Document.locate``.

    Returns:
        An issue when ``blockforge:`` is present and is not :data:`FORMAT_VERSION`, else None (a missing
        key is reported by validation as a missing required key).
    """
    if not isinstance(data, dict) or "blockforge" not in data:
        return None
    v = data["blockforge"]
    if v == FORMAT_VERSION and not isinstance(v, bool):
        return None
    text = repr(v)
    text = text if len(text) <= 60 else text[:57] + "..."
    return SpecIssue(("blockforge",), f"unsupported spec format version {text}", locate(("blockforge",)),
                     f"this blockforge reads `blockforge: {FORMAT_VERSION}`; see README 'Format versions'",
                     "format_version")

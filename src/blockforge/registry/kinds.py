"""The component kinds. One registry exists per kind."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """A family of interchangeable components; a spec field names one member by ``type``."""

    ATTENTION = "attention"
    ACTIVATION = "activation"
    NORM = "norm"
    FEEDFORWARD = "feedforward"
    POSITIONAL = "positional"
    EMBEDDING = "embedding"
    BLOCK = "block"
    HEAD = "head"
    MODEL = "model"


KINDS: tuple[Kind, ...] = tuple(Kind)

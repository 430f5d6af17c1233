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
    LOSS = "loss"
    OPTIMIZER = "optimizer"
    SCHEDULE = "schedule"


KINDS: tuple[Kind, ...] = tuple(Kind)

TRAINING_KINDS: frozenset[Kind] = frozenset({Kind.LOSS, Kind.OPTIMIZER, Kind.SCHEDULE})
"""Kinds referenced from a spec's ``training:`` section. Their factories take a
:class:`~blockforge.registry.context.TrainContext` instead of a ``BuildContext`` and do not all return
modules: a loss is an ``nn.Module``, an optimizer a ``torch.optim.Optimizer``, a schedule a function of
the step (see ``blockforge.registry.hookspecs``)."""

MODEL_KINDS: tuple[Kind, ...] = tuple(k for k in Kind if k not in TRAINING_KINDS)
"""Kinds that make up a model (built by ``build_model``)."""

"""Training: the spec's ``training`` and ``data`` sections turned into a run directory.

    >>> from blockforge.train import train
    >>> result = train("specs/tiny-train.yaml", out="runs/tiny", data=["corpus.txt"])   # doctest: +SKIP
"""

from __future__ import annotations

from blockforge.train.loop import RunResult, RunShape, Trainer, TrainError, apply_activation_checkpointing, train
from blockforge.train.strategy import Strategy

__all__ = ["RunResult", "RunShape", "Strategy", "TrainError", "Trainer", "apply_activation_checkpointing", "train"]

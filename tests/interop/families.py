"""Small transformers configs for each supported family, and how to run both implementations.

Each family gives a function making a tiny transformers config (random-initialised models are built
from it; nothing is downloaded) and the transformers class of its LM/encoder model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Family:
    """A family under test.

    Attributes:
        name: the transformers ``model_type``.
        config: keyword arguments -> a transformers config object (needs transformers).
        model_class: the transformers class name whose state dict the layout describes.
        causal: whether logits at position t depend only on tokens <= t.
    """

    name: str
    config: Callable[..., Any]
    model_class: str
    causal: bool = True


VOCAB, MAX_LEN = 97, 16


def _gpt2(**overrides: Any) -> Any:
    from transformers import GPT2Config

    kw = dict(vocab_size=VOCAB, n_positions=MAX_LEN, n_embd=32, n_layer=2, n_head=4,
              attn_implementation="sdpa")
    return GPT2Config(**{**kw, **overrides})


FAMILIES: dict[str, Family] = {
    "gpt2": Family("gpt2", _gpt2, "GPT2LMHeadModel"),
}

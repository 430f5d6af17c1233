"""Generation: autoregressive decoding of compiled models (:func:`generate`), streaming text.

    >>> import blockforge
    >>> model = blockforge.load_model("out/lm")                                    # doctest: +SKIP
    >>> out = blockforge.generate(model, ids, mask, max_new_tokens=32)              # doctest: +SKIP
"""

from __future__ import annotations

from blockforge.generation.generate import CacheFallbackWarning, GenerationError, Streamer, generate
from blockforge.generation.sampling import apply_repetition_penalty, filter_top_k, filter_top_p, next_token
from blockforge.generation.streaming import TextStreamer

__all__ = [
    "CacheFallbackWarning", "GenerationError", "Streamer", "TextStreamer", "apply_repetition_penalty",
    "filter_top_k", "filter_top_p", "generate", "next_token",
]

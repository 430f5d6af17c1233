"""Model directories: the one file format for a compiled model (no pickle; loading one runs no code).

A model directory holds:

- ``spec.yaml``: the resolved spec (every default filled in), headed by a ``# spec_hash: <sha256>`` line;
- ``model.safetensors``: the weights (tied tensors stored once), with the spec hash in its metadata;
- ``tokenizer.json`` (optional): a Hugging Face ``tokenizers`` tokenizer file;
- ``generation.json`` (optional): generation defaults and the chat template (:class:`GenerationConfig`).

A training run directory is a model directory plus a ``state/`` folder; this package leaves other files
in the directory alone. Each file is written atomically (:mod:`blockforge._io`); ``spec.yaml`` is written
last, and the weights carry the spec's hash, so a directory caught half-rewritten is refused on load.

    >>> save_model(model, "out/lm", tokenizer=tok, generation=GenerationConfig(eos_token_id=2))  # doctest: +SKIP
    >>> model = load_model("out/lm", device="cpu")                                              # doctest: +SKIP
"""

from __future__ import annotations

from blockforge.modeldir.config import ChatTemplate, GenerationConfig
from blockforge.modeldir.files import (
    GENERATION_FILE,
    SPEC_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ModelDirError,
    load_generation_config,
    load_model,
    load_tokenizer,
    read_spec,
    save_model,
)

__all__ = [
    "GENERATION_FILE", "SPEC_FILE", "TOKENIZER_FILE", "WEIGHTS_FILE",
    "ChatTemplate", "GenerationConfig", "ModelDirError",
    "load_generation_config", "load_model", "load_tokenizer", "read_spec", "save_model",
]

"""Turn a sharded (DCP) checkpoint into the one-folder model directory that ``generate`` and ``chat`` read.

Runs in one process, without a process group: DCP reads every shard that the ranks wrote, whatever their
number, into a whole model of the spec, and :func:`blockforge.modeldir.save_model` writes ``spec.yaml`` and
``model.safetensors`` (no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from blockforge.errors import BlockforgeError


def _find_spec(checkpoint: Path) -> Path:
    """The model directory a checkpoint's shards belong to: the nearest folder above with a ``spec.yaml``."""
    from blockforge.modeldir import SPEC_FILE

    for folder in [checkpoint, *checkpoint.parents][:4]:
        if (folder / SPEC_FILE).is_file():
            return folder
    raise BlockforgeError(f"{checkpoint}: no {SPEC_FILE} next to or above these shards; pass the spec")


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    spec: Any = None,
    registries: Any = None,
    tokenizer: Any = None,
    generation: Any = None,
) -> Path:
    """Write the weights of a DCP checkpoint as a model directory.

    Args:
        checkpoint: the DCP folder (``.metadata`` + ``__<rank>_0.distcp``), e.g. a run's
            ``checkpoints/step-N/state/dcp``.
        out: the model directory to write.
        spec: the spec the checkpoint was trained from (path, mapping or validated spec); None reads the
            ``spec.yaml`` of the checkpoint's model directory (and takes its tokenizer and generation
            defaults along).
        registries: where the spec's component names resolve (default: built-ins and installed plugins).
        tokenizer: a tokenizer (or ``tokenizer.json`` path) to write alongside; None: none.
        generation: generation defaults to write alongside; None: none.

    Returns:
        ``out``.

    Raises:
        BlockforgeError: not a DCP checkpoint, no spec found, or shards of another architecture.
    """
    from blockforge.build import build_model
    from blockforge.distributed.checkpoint import load_model_weights
    from blockforge.modeldir import read_spec, save_model

    checkpoint = Path(checkpoint)
    if spec is None:
        folder = _find_spec(checkpoint)
        spec, _ = read_spec(folder, registries=registries)
        # a run's checkpoint keeps its tokenizer and generation defaults next to spec.yaml
        if tokenizer is None and (folder / "tokenizer.json").is_file():
            tokenizer = folder / "tokenizer.json"
        if generation is None and (folder / "generation.json").is_file():
            from blockforge.modeldir import load_generation_config

            generation = load_generation_config(folder)
    model = build_model(spec, registries=registries, device="meta")
    # storage without initialisation; DCP fills every persistent tensor (non-persistent buffers are not saved)
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        load_model_weights(checkpoint, model)
    return save_model(model, out, tokenizer=tokenizer, generation=generation)


__all__ = ["export_checkpoint"]

"""Hugging Face transformers interop: config import and weights in both directions.

``hf_config`` (torch-free, transformers-free) turns a ``config.json`` into a blockforge spec with the
per-family converters of ``hf_families``; ``hf_weights`` maps state dicts between compiled models and
the transformers layout (per-family rules in ``hf_layouts``) and reads and writes ``.safetensors``
files (the ``safetensors`` package, from the ``hf`` extra).
transformers itself is needed only to build the reference models of the parity tests.

    >>> from blockforge.interop import import_config, load_hf_weights   # doctest: +SKIP
    >>> spec = import_config("config.json")
    >>> model = blockforge.build_model(spec)
    >>> report = load_hf_weights(model, "model.safetensors", family="gpt2")
"""

from __future__ import annotations

from blockforge._lazy import lazy_exports

_LAZY = {
    "InteropError": "blockforge.interop.hf_config",
    "UnsupportedConfigError": "blockforge.interop.hf_config",
    "ConfigProblem": "blockforge.interop.hf_config",
    "config_to_spec": "blockforge.interop.hf_config",
    "import_config": "blockforge.interop.hf_config",
    "read_config": "blockforge.interop.hf_config",
    "supported_families": "blockforge.interop.hf_config",
    "WeightReport": "blockforge.interop.hf_weights",
    "WeightMismatchError": "blockforge.interop.hf_weights",
    "export_hf_state_dict": "blockforge.interop.hf_weights",
    "load_hf_state_dict": "blockforge.interop.hf_weights",
    "load_hf_weights": "blockforge.interop.hf_weights",
    "save_hf_weights": "blockforge.interop.hf_weights",
    "read_safetensors": "blockforge.interop.hf_weights",
    "write_safetensors": "blockforge.interop.hf_weights",
    "from_hf_model": "blockforge.interop.hf_weights",
    "from_hf_directory": "blockforge.interop.hf_weights",
    "read_hf_directory": "blockforge.interop.hf_weights",
    "save_hf_directory": "blockforge.interop.hf_weights",
    "spec_to_config": "blockforge.interop.hf_export",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("blockforge.interop", _LAZY, globals())

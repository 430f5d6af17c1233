"""blockforge: compile declarative model specs into runnable PyTorch Transformers.

The top-level API is lazy: importing ``blockforge`` (or validating a spec) does not import torch.

    >>> import blockforge
    >>> model = blockforge.build_model("specs/tiny.yaml", seed=0)   # doctest: +SKIP
    >>> report = blockforge.summarize("specs/seed.yaml")            # doctest: +SKIP
"""

from __future__ import annotations

from blockforge._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "load_spec": "blockforge.spec",
    "load_document": "blockforge.spec",
    "default_spec_path": "blockforge.spec",
    "canonical": "blockforge.spec",
    "spec_hash": "blockforge.spec",
    "Params": "blockforge.spec",
    "SpecFile": "blockforge.spec",
    "Ref": "blockforge.spec",
    "SpecError": "blockforge.errors",
    "SpecIssue": "blockforge.errors",
    "BlockforgeError": "blockforge.errors",
    "hookimpl": "blockforge.registry",
    "Kind": "blockforge.registry",
    "Registries": "blockforge.registry",
    "Registry": "blockforge.registry",
    "BuildContext": "blockforge.registry",
    "load_plugins": "blockforge.registry",
    "default_registries": "blockforge.registry",
    "PluginOptions": "blockforge.registry",
    "build_model": "blockforge.build",
    "BuildError": "blockforge.build",
    "summarize": "blockforge.inspect",
    "save_model": "blockforge.modeldir",
    "load_model": "blockforge.modeldir",
    "GenerationConfig": "blockforge.modeldir",
    "generate": "blockforge.generation",
    "Summary": "blockforge.inspect",
}

__all__ = ["__version__", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_exports("blockforge", _LAZY, globals())

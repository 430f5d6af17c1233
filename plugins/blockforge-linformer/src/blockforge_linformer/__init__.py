"""blockforge-linformer: low-rank self-attention (Wang et al. 2020, "Linformer") as a blockforge plugin.

Torch-free at import: the parameter model and hook live in :mod:`blockforge_linformer.plugin`, the
``nn.Module`` in :mod:`blockforge_linformer.module`, imported only when a model is built.
"""

__version__ = "0.1.0"

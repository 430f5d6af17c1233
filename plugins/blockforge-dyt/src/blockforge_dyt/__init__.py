"""blockforge-dyt: Dynamic Tanh (Zhu et al. 2025, "Transformers without Normalization") as a blockforge norm.

Torch-free at import: the hook and parameter model live in :mod:`blockforge_dyt.plugin`, the module in
:mod:`blockforge_dyt.module`.
"""

__version__ = "0.1.0"

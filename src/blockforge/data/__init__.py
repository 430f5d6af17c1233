"""Training data: corpora read from files or packages, tokenizers (HF ``tokenizers``), packed token windows.

The seed guide's section 13, step 1: text becomes tokens, tokens become integers. Nothing here imports
torch at module level except :mod:`blockforge.data.windows`.
"""

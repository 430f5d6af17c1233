"""The models compared: sizes read from a spec, and the equivalent transformers / hand-written models."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@dataclass(frozen=True)
class Sizes:
    """The shape of a GPT-style spec, for building the same model another way."""

    vocab_size: int
    d_model: int
    n_layers: int
    heads: int
    hidden: int
    max_len: int
    dropout: float

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Sizes:
        m = spec["model"]
        b = m["block"]
        return cls(vocab_size=m["vocab_size"], d_model=m["d_model"], n_layers=m["n_layers"],
                   heads=b["attention"]["heads"], hidden=b["feedforward"]["hidden"], max_len=m["max_len"],
                   dropout=m.get("dropout", 0.0))


def load_yaml(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def shrink(spec: dict[str, Any], *, vocab: int = 97, d_model: int = 32, n_layers: int = 2, heads: int = 4,
           hidden: int = 64, max_len: int = 32) -> dict[str, Any]:
    """The same spec at tiny sizes (the smoke run)."""
    s = copy.deepcopy(spec)
    m = s["model"]
    m.update(vocab_size=vocab, d_model=d_model, n_layers=n_layers, max_len=max_len)
    m["block"]["attention"]["heads"] = heads
    if "kv_heads" in m["block"]["attention"]:
        m["block"]["attention"]["kv_heads"] = max(1, heads // 2)
    m["block"]["feedforward"]["hidden"] = hidden
    s["name"] = f"{s.get('name', 'spec')}-tiny"
    return s


def have_transformers() -> bool:
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def hf_gpt2(sizes: Sizes, *, activation: str = "gelu_new", tied: bool = True):
    """transformers' GPT2LMHeadModel of the given sizes with sdpa attention, built from its config.

    Args:
        sizes: the model's sizes.
        activation: transformers' activation name (GPT-2's own config uses ``gelu_new``).
        tied: tie the LM head to the token embedding (GPT-2) or not (the seed).

    Returns:
        The model, initialised by transformers (``post_init``).
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=sizes.vocab_size, n_positions=sizes.max_len, n_embd=sizes.d_model, n_layer=sizes.n_layers,
        n_head=sizes.heads, n_inner=sizes.hidden, activation_function=activation,
        resid_pdrop=sizes.dropout, embd_pdrop=sizes.dropout, attn_pdrop=sizes.dropout,
        layer_norm_epsilon=1e-5, tie_word_embeddings=tied, attn_implementation="sdpa",
    )
    return GPT2LMHeadModel(config)


def hf_llama_meta(spec: dict[str, Any]):
    """transformers' LlamaForCausalLM with the spec's sizes, constructed on the meta device."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    m = spec["model"]
    b = m["block"]
    attn, ff = b["attention"], b["feedforward"]
    # a gated (SwiGLU) spec maps one to one; a plain MLP gets the gated width with the same parameter
    # count (3 * d * i = 2 * d * hidden)
    gated = ff.get("type") in ("swiglu", "glu")
    config = LlamaConfig(
        vocab_size=m["vocab_size"], hidden_size=m["d_model"], num_hidden_layers=m["n_layers"],
        num_attention_heads=attn["heads"], num_key_value_heads=attn.get("kv_heads", attn["heads"]),
        intermediate_size=ff["hidden"] if gated else ff["hidden"] * 2 // 3,
        max_position_embeddings=m["max_len"], tie_word_embeddings=bool(m.get("head", {}).get("tied", False)),
        attn_implementation="sdpa",
    )
    with torch.device("meta"):
        return LlamaForCausalLM(config)


def nanogpt(sizes: Sizes):
    """The hand-written nanoGPT-style model of the given sizes."""
    from benchmarks.nanogpt import GPT, GPTConfig

    return GPT(GPTConfig(vocab_size=sizes.vocab_size, block_size=sizes.max_len, n_layer=sizes.n_layers,
                         n_head=sizes.heads, n_embd=sizes.d_model, n_inner=sizes.hidden, dropout=sizes.dropout))


def seed_guide(sizes: Sizes):
    """The design guide's Transformer, constructed as the guide does."""
    from benchmarks.seed_guide import Transformer

    return Transformer(sizes.d_model, sizes.heads, sizes.hidden, sizes.n_layers, sizes.vocab_size,
                       sizes.max_len, sizes.dropout)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())

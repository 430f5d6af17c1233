"""A fresh model starts at the loss of a uniform guess: cross-entropy within 1 of ln(vocab_size) on uniform
random tokens, for every spec in ``specs/`` with an LM head (issue 12, item 8)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from blockforge.build import build_model
from blockforge.spec import load_spec
from tests.conftest import SPEC_FILES

MAX_PARAMS = 150_000_000
"""Specs above this size (the 2B-70B references, all ``init_std: 0.02`` like gpt2-small) are not built here:
their weights alone would take the test machine's memory. Their initialisation is GPT-2's N(0, init_std)
scheme, which gpt2-small, tiny-llama, tiny-mistral and tiny-gemma2 cover at a size that fits."""


def _lm_specs() -> list:
    out = []
    for path in SPEC_FILES:
        model = load_spec(path).model
        if getattr(type(getattr(model, "head", None)), "__blockforge_name__", None) != "lm":
            continue
        n = sum(p.numel() for p in build_model(path, device="meta").parameters())
        marks = [pytest.mark.slow] if n > 20_000_000 else []
        if n <= MAX_PARAMS:
            out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


@pytest.mark.parametrize("path", _lm_specs())
def test_fresh_model_starts_near_ln_vocab(path):
    spec = load_spec(path).model
    model = build_model(path, seed=0).eval()
    vocab = spec.vocab_size
    t = min(spec.max_len, 32)
    ids = torch.randint(0, vocab, (4, t + 1), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if type(spec).__blockforge_name__ == "encoder_decoder":
            logits = model(ids[:, :-1], decoder_ids=ids[:, :-1])  # (B, T, V)
        else:
            logits = model(ids[:, :-1])  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, vocab).float(), ids[:, 1:].reshape(-1)).item()
    assert abs(loss - math.log(vocab)) <= 1.0, f"{path.name}: initial loss {loss:.2f}, ln V = {math.log(vocab):.2f}"


def test_tied_table_is_initialised_as_an_output_projection():
    """With no init_std, a tied table gets nn.Linear's default bound 1/sqrt(d); an untied one keeps N(0, 1)."""
    base = {"blockforge": 1, "model": {
        "type": "lm", "vocab_size": 500, "d_model": 64, "n_layers": 1, "max_len": 8,
        "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2, "causal": True},
                  "feedforward": {"type": "mlp", "hidden": 64}}}}
    tied = build_model({**base, "model": {**base["model"], "head": {"type": "lm", "tied": True}}})
    untied = build_model({**base, "model": {**base["model"], "head": {"type": "lm", "tied": False}}})
    w = tied.embedding.weight
    assert w.abs().max() <= 1 / 8 and w.std().item() == pytest.approx(1 / math.sqrt(3 * 64), rel=0.05)
    assert untied.embedding.weight.std().item() == pytest.approx(1.0, rel=0.05)

"""Incremental decoding: every cached step's logits equal a full recomputation (to 1e-5, float32), for every
registered sequence mixer (registry-driven) and every spec in specs/ that generates; cache memory equals
what ``summary`` reports per token; mixers without cache support fall back, with one warning."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from blockforge import summarize
from blockforge.build import build_model
from blockforge.generation import CacheFallbackWarning, generate
from blockforge.registry import default_registries
from blockforge.spec.params import examples_of
from tests.conftest import SPEC_FILES

TOL = 1e-5
V, PROMPT, STEPS = 61, 6, 6


def lm_spec(mixer: dict, positional: str) -> dict:
    return {"blockforge": 1, "model": {
        "type": "lm", "vocab_size": V, "d_model": 32, "n_layers": 2, "max_len": 24, "positional": positional,
        "block": {"type": "transformer", "attention": mixer, "feedforward": {"type": "mlp", "hidden": 32}},
        "head": {"type": "lm", "tied": False}, "init_std": 0.2}}


def left_padded_prompt(seed: int = 0, vocab: int = V) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (3, PROMPT), generator=g)
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # two left pads
    mask[2, :5] = 0  # one real token
    return ids * mask, mask


def assert_cached_steps_match(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, steps: int = STEPS,
                              encdec: bool = False) -> None:
    """Decode greedily with a cache; at each step compare with the full recomputation of the same tokens."""
    cache = model.new_cache()
    tokens, dec_mask = (torch.zeros(ids.shape[0], 1, dtype=torch.long), torch.ones(ids.shape[0], 1, dtype=torch.long)) \
        if encdec else (ids, mask)
    new, new_mask = tokens, dec_mask
    with torch.no_grad():
        for step in range(steps):
            if encdec:
                cached = model(ids, mask, decoder_ids=new, decoder_mask=new_mask, cache=cache, logits_to_keep=1)
                full = model(ids, mask, decoder_ids=tokens, decoder_mask=dec_mask)
            else:
                cached = model(new, new_mask, cache=cache, logits_to_keep=1)
                full = model(tokens, dec_mask)
            diff = (cached[:, -1] - full[:, -1]).abs().max().item()
            assert diff <= TOL, f"step {step}: cached logits differ from the recomputation by {diff}"
            new = full[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            new_mask = torch.ones_like(new)
            tokens, dec_mask = torch.cat((tokens, new), 1), torch.cat((dec_mask, new_mask), 1)


def mixer_cases():
    for c in default_registries().components():
        if c.kind.value != "attention" or c.params.uses_positions == "cross":
            continue
        for i, example in enumerate(examples_of(c.params) or [{}]):
            mixer = {"type": c.name, **example}
            if "causal" in c.params.model_fields:
                mixer["causal"] = True
            positionals = ["rope", "alibi", "learned"] if c.params.uses_positions == "applies" else ["learned"]
            for positional in positionals:
                yield pytest.param(mixer, positional, id=f"{c.name}[{i}]-{positional}")


@pytest.mark.parametrize(("mixer", "positional"), list(mixer_cases()))
def test_every_mixer_cached_steps_equal_recomputation(mixer, positional):
    model = build_model(lm_spec(mixer, positional), seed=1).eval()
    unsupported = [m for m in model.modules() if getattr(m, "blockforge_kind", None) == "attention"
                   and not getattr(m, "supports_cache", False)]
    ids, mask = left_padded_prompt()
    if unsupported:  # a mixer without a cache: generation recomputes, warns once, and gives the same tokens
        with pytest.warns(CacheFallbackWarning, match="no cache support"):
            got = generate(model, ids, mask, max_new_tokens=4)
        assert torch.equal(got, generate(model, ids, mask, max_new_tokens=4, use_cache=False))
        return
    assert_cached_steps_match(model, ids, mask)


def test_cross_attention_encoder_memory_is_computed_once():
    model = build_model("specs/tiny-encoder-decoder.yaml", seed=2).eval()
    ids, mask = left_padded_prompt(vocab=97)
    assert_cached_steps_match(model, ids, mask, steps=8, encdec=True)
    calls = []
    model.encoder[0].register_forward_hook(lambda *a: calls.append(1))
    generate(model, ids, mask, max_new_tokens=5, decoder_start_token_id=0)
    assert len(calls) == 1


GENERATING = []
for path in SPEC_FILES:
    meta = build_model(path, device="meta")
    n = sum(p.numel() for p in meta.parameters())
    if n < 3_000_000 and hasattr(meta, "new_cache") and meta.cache_blocks is not None:
        GENERATING.append(pytest.param(path, id=path.name))


@pytest.mark.parametrize("path", GENERATING)
def test_every_spec_decodes_with_a_cache_like_recomputation(path):
    model = build_model(path, seed=0).eval()
    encdec = getattr(model, "is_encoder_decoder", False)
    if not encdec and not all(getattr(m, "causal", True) for m in model.modules()
                              if getattr(m, "blockforge_kind", None) == "attention"):
        with pytest.raises(ValueError, match="bidirectional"):
            assert_cached_steps_match(model, *left_padded_prompt(vocab=97), steps=1)
        return
    vocab = min(97, model.embedding.weight.shape[0])
    steps = min(STEPS, model.max_len - PROMPT)
    assert_cached_steps_match(model, *left_padded_prompt(vocab=vocab), steps=steps, encdec=encdec)


@pytest.mark.parametrize("name", ["tiny.yaml", "tiny-llama.yaml", "tiny-mistral.yaml", "tiny-gemma2.yaml"])
def test_cache_memory_equals_summary_per_token(name):
    """Below the window the cache holds exactly ``batch x tokens x`` summary's KV bytes per token; past it,
    windowed layers hold only ``window`` positions (a rolling cache)."""
    path = f"specs/{name}"
    per_token = summarize(path).memory.kv_cache_per_token  # bytes, all layers
    model = build_model(path, seed=0).eval()
    windows = [m.window for m in model.modules() if getattr(m, "kv_cache_per_token", None) and m.causal]
    shortest = min((w for w in windows if w is not None), default=16)
    for t in (min(3, shortest), 12):
        ids = torch.randint(0, 97, (2, t))
        cache = model.new_cache()
        with torch.no_grad():
            model(ids, torch.ones_like(ids), cache=cache, logits_to_keep=1)
        nbytes = cache.numel() * 4
        expected = 2 * sum(min(t, w or t) for w in windows) * per_token // len(windows)
        assert nbytes == expected, (t, nbytes, expected)
        if t <= shortest:
            assert nbytes == 2 * t * per_token


def test_a_plugin_mixer_without_cache_support_recomputes_and_warns_once():
    model = build_model("specs/tiny.yaml", seed=0).eval()
    reference = generate(model, *left_padded_prompt(vocab=97), max_new_tokens=6)

    class NoCache(nn.Module):  # a plugin mixer that declares nothing
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.blockforge_kind = "attention"

        def forward(self, x, *, mask=None, positions=None):
            return self.inner(x, mask=mask, positions=positions)

    model.blocks[1].attention = NoCache(model.blocks[1].attention)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        got = generate(model, *left_padded_prompt(vocab=97), max_new_tokens=6)
    fallback = [w for w in caught if issubclass(w.category, CacheFallbackWarning)]
    assert len(fallback) == 1 and "blocks.1.attention (NoCache)" in str(fallback[0].message)
    assert torch.equal(got, reference)


@pytest.mark.parametrize("name", ["tiny-mistral.yaml", "tiny-encoder-decoder.yaml", "hybrid-lstm-attention.yaml"])
def test_static_cache_generates_like_the_dynamic_one(name):
    model = build_model(f"specs/{name}", seed=0).eval()
    ids, mask = left_padded_prompt(vocab=97)
    kw = {"decoder_start_token_id": 0} if getattr(model, "is_encoder_decoder", False) else {}
    dynamic = generate(model, ids, mask, max_new_tokens=8, **kw)
    assert torch.equal(dynamic, generate(model, ids, mask, max_new_tokens=8, cache_implementation="static", **kw))

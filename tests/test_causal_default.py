"""Issue 12 item 5: a language model is causal unless its spec says otherwise, and a model that says
otherwise is named. The reference is the definition: a model is causal when no position's output changes
with a later token (checked on every small spec in specs/, float64, 1e-12)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from blockforge import build_model, load_spec, summarize
from blockforge.spec.causality import noncausal_note
from tests.cli.helpers import invoke
from tests.conftest import SPEC_FILES, SPECS_DIR


def lm(attention: dict, model_type: str = "lm", **extra) -> dict:
    return {"blockforge": 1, "model": {
        "type": model_type, "vocab_size": 50, "d_model": 16, "n_layers": 2, "max_len": 8,
        "block": {"type": "transformer", "attention": attention, "feedforward": {"type": "mlp", "hidden": 32}},
        "init_std": 0.3, **extra}}


def sees_later_tokens(model: torch.nn.Module, t: int = 8, vocab: int = 50) -> bool:
    """Does any position's output change when only the last token changes?"""
    ids = torch.randint(1, vocab, (2, t), generator=torch.Generator().manual_seed(0))
    other = ids.clone()
    other[:, -1] = (ids[:, -1] + 1) % vocab
    with torch.no_grad():
        a, b = model.eval()(ids), model(other)
    return not torch.allclose(a[:, :-1], b[:, :-1], rtol=0, atol=1e-12)


def test_an_lm_that_omits_causal_is_causal():
    """The issue's input: the first position's logits changed when the last token changed."""
    omitted = build_model(lm({"type": "mha", "heads": 2}), dtype=torch.float64)
    written = build_model(lm({"type": "mha", "heads": 2, "causal": True}), dtype=torch.float64)
    assert not sees_later_tokens(omitted)
    ids = torch.randint(0, 50, (2, 8))
    assert torch.equal(omitted.eval()(ids), written.eval()(ids))
    s = summarize(lm({"type": "mha", "heads": 2}), batch=1, seq_len=8)
    assert s.memory.kv_cache_per_token == 2 * 2 * 16 * 4  # layers x (K + V) x d_model x fp32: the line is back
    assert s.notes == []


def test_an_encoder_and_an_encoder_decoder_keep_their_defaults():
    assert sees_later_tokens(build_model(lm({"type": "mha", "heads": 2}, "encoder", head="lm"), dtype=torch.float64))
    model = build_model(SPECS_DIR / "tiny-encoder-decoder.yaml")
    assert [b.attention.causal for b in model.encoder] == [False, False]  # the spec leaves them unset
    assert [b.attention.causal for b in model.decoder] == [True, True]


def test_a_decoder_block_that_omits_causal_is_causal():
    """A decoder block's self-attention that leaves causal unset was refused ("must be causal"); it is causal."""
    data = yaml.safe_load((SPECS_DIR / "tiny-encoder-decoder.yaml").read_text())
    del data["model"]["decoder_block"]["attention"]["causal"]
    model = build_model(data)
    assert [b.attention.causal for b in model.decoder] == [True, True]
    assert noncausal_note(load_spec(data)) is None


@pytest.mark.parametrize(("attention", "layers"), [
    ({"type": "mha", "heads": 2, "causal": False}, "layers 0, 1: mha causal: false"),
    ({"type": "lstm", "bidirectional": True}, "layers 0, 1: lstm bidirectional: true"),
])
def test_a_non_causal_lm_is_named_by_validate_and_summary(tmp_path, attention, layers):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(lm(attention, positional="none" if attention["type"] == "lstm" else "sinusoidal")))
    assert sees_later_tokens(build_model(path, dtype=torch.float64))
    note = noncausal_note(load_spec(path))
    assert note is not None and note.startswith("not causal: this lm sees later tokens") and layers in note
    assert f"{path}:1:" in note  # where it is written
    r = invoke("validate", str(path))
    assert r.exit_code == 0 and "note: not causal" in r.output, r.output
    data = json.loads(invoke("validate", str(path), "--format", "json").output)
    assert data["specs"][0]["notes"] == [note]
    s = summarize(path, batch=1, seq_len=8)
    assert s.notes == [note] and s.to_dict()["notes"] == [note] and s.memory.kv_cache_per_token is None
    assert "note: not causal" in invoke("summary", str(path), "--depth", "0").output


def test_a_plan_that_opens_some_layers_names_those_layers():
    spec = lm({"type": "mha", "heads": 2}, n_layers=4)
    spec["model"]["plan"] = {"overrides": [{"at": "2:", "block": {"attention": {"causal": False}}}]}
    note = noncausal_note(load_spec(spec))
    assert note is not None and "layers 2, 3: mha causal: false (model.plan.overrides.0.block.attention.causal" in note


def _small_language_models() -> list:
    """The small specs of specs/ whose model is a language model (the seed is checked by name below)."""
    out = []
    for p in SPEC_FILES:
        m = load_spec(p).model
        if p.name != "seed.yaml" and m.vocab_size * m.d_model < 200_000 and m.build_context().causal:
            out.append(p)
    return out


@pytest.mark.parametrize("path", _small_language_models(), ids=lambda p: p.name)
def test_every_small_language_model_is_named_exactly_when_it_sees_later_tokens(path):
    spec = load_spec(path)
    model = build_model(spec, dtype=torch.float64)
    t = min(8, spec.model.max_len)
    assert (noncausal_note(spec) is not None) == sees_later_tokens(model, t, spec.model.vocab_size)


def test_the_seed_is_named_not_causal():
    note = noncausal_note(load_spec(SPECS_DIR / "seed.yaml"))
    assert note is not None and "layers 0-5: mha causal: false" in note and "seed.yaml:23:" in note

"""Every file in specs/ validates, builds and runs; small ones also train a step (forward + backward).

Large specs are built on the meta device and run a forward there (shapes only); reference specs whose
parameter count is published are checked against it.
"""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_model
from blockforge.spec import load_spec
from tests.conftest import SPEC_FILES, SPECS_DIR

SMALL = 5_000_000  # parameters; larger specs are checked on the meta device only

PUBLISHED = {  # parameter counts of the architectures the reference specs reproduce
    "seed.yaml": 50_199_354,  # the design guide's Transformer
    "gpt2-small.yaml": 124_439_808,  # Hugging Face gpt2
    "bert-base.yaml": 109_483_778,  # BertForSequenceClassification(bert-base-uncased, num_labels=2)
    "llama3-8b.yaml": 8_030_261_248,  # Meta-Llama-3-8B
    "mistral-7b.yaml": 7_241_732_096,  # Mistral-7B-v0.1
    "gemma2-2b.yaml": 2_614_341_888,  # gemma-2-2b
}


def test_there_are_specs():
    assert len(SPEC_FILES) >= 2


def expected_shape(model_spec, batch: int, seq: int) -> tuple[int, ...]:
    head = model_spec.head
    name = type(head).__blockforge_name__
    if name == "classifier":
        return (batch, head.classes)
    if name == "hidden":
        return (batch, seq, model_spec.d_model)
    return (batch, seq, model_spec.vocab_size)


def loss_of(out: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    if out.dim() == 3 and out.shape[:2] == ids.shape:
        return torch.nn.functional.cross_entropy(out.flatten(0, 1), ids.flatten())
    return out.float().square().mean()


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_spec_validates_builds_and_runs(path):
    spec = load_spec(path)
    meta = build_model(spec, device="meta")
    n = sum(p.numel() for p in meta.parameters())
    seq = min(spec.model.max_len, 12)
    ids = torch.randint(0, spec.model.vocab_size, (2, seq))
    want = expected_shape(spec.model, 2, seq)
    if n > SMALL:
        out = meta(ids.to("meta"))
        assert out.shape == want
        return
    model = build_model(spec, seed=0)
    out = model(ids)
    assert out.shape == want
    assert torch.isfinite(out).all()
    loss_of(out, ids).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_reference_specs_have_the_published_parameter_counts(name):
    model = build_model(SPECS_DIR / name, device="meta")
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED[name]


def test_gemma2_alternates_local_and_global_attention():
    model = build_model(SPECS_DIR / "gemma2-2b.yaml", device="meta")
    windows = [b.attention.window for b in model.blocks]
    assert windows == [4096, None] * 13
    assert all(b.attention.softcap == 50.0 for b in model.blocks) and model.head.softcap == 30.0


def test_hybrid_has_three_lstm_layers_per_attention_layer():
    from blockforge.components.attention import MultiHeadAttention
    from blockforge.components.recurrent import RecurrentMixer

    model = build_model(SPECS_DIR / "hybrid-lstm-attention.yaml", device="meta")
    kinds = [type(b.attention) for b in model.blocks]
    assert kinds == [RecurrentMixer, RecurrentMixer, RecurrentMixer, MultiHeadAttention] * 2

"""Every file in specs/ validates, builds and runs; small ones also train a step."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_model
from blockforge.spec import load_spec
from tests.conftest import SPEC_FILES

SMALL = 5_000_000  # parameters; larger specs are checked on the meta device only


def test_there_are_specs():
    assert len(SPEC_FILES) >= 2


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_spec_validates_builds_and_runs(path):
    spec = load_spec(path)
    meta = build_model(spec, device="meta")
    n = sum(p.numel() for p in meta.parameters())
    seq = min(spec.model.max_len, 12)
    ids = torch.randint(0, spec.model.vocab_size, (2, seq))
    if n > SMALL:
        out = meta(ids.to("meta"))
        assert out.shape == (2, seq, spec.model.vocab_size)
        return
    model = build_model(spec, seed=0)
    logits = model(ids)
    assert logits.shape == (2, seq, spec.model.vocab_size)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)

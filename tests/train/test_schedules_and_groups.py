"""Schedule formulas against values written out here, and the weight-decay groups."""

from __future__ import annotations

import math

import pytest

from blockforge.build import build_model
from blockforge.builtins import schedule as S
from blockforge.builtins.optimizer import param_groups
from blockforge.registry.context import BuildContext, TrainContext


def ctx(steps):
    return TrainContext(model=None, model_context=BuildContext(d_model=512, vocab_size=10, max_len=8, n_layers=1),
                        steps=steps)


def test_cosine_warms_up_linearly_then_decays_to_min_ratio():
    f = S.build_cosine(S.CosineParams(warmup=4, min_ratio=0.1), ctx(14))
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(4) == pytest.approx(1.0) and f(13) == pytest.approx(0.1)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 9)))


def test_wsd_is_stable_then_decays_over_the_last_fraction():
    f = S.build_wsd(S.WSDParams(warmup=2, decay=0.2, min_ratio=0.0), ctx(10))
    assert [f(s) for s in range(10)] == pytest.approx([0.5, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.0])


def test_inverse_sqrt_is_the_original_transformers_schedule():
    """lr(step) = d^-0.5 * min(step^-0.5, step * warmup^-1.5) (Vaswani et al. 2017, eq. 3), step from 1."""
    d, warmup = 512, 4000
    peak = (d * warmup) ** -0.5
    f = S.build_inverse_sqrt(S.InverseSqrtParams(warmup=warmup), ctx(100_000))
    for step in (1, 100, 3999, 4000, 4001, 20_000, 99_999):
        paper = d ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
        assert peak * f(step - 1) == pytest.approx(paper, rel=1e-12)


def test_decay_groups_leave_out_norms_biases_and_embeddings_by_default():
    model = build_model("specs/tiny.yaml", seed=0)
    names = {id(p): n for n, p in model.named_parameters()}
    decay, plain = param_groups(model, weight_decay=0.1, no_decay=["norm", "bias", "embedding"])
    assert decay["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    decayed = {names[id(p)] for p in decay["params"]}
    assert decayed and all(n.endswith("weight") and "norm" not in n and "embedding" not in n
                           and "positional" not in n for n in decayed), decayed
    assert "embedding.weight" in {names[id(p)] for p in plain["params"]}
    everything = param_groups(model, weight_decay=0.1, no_decay=[])
    assert len(everything) == 1 and len(everything[0]["params"]) == len(list(model.parameters()))

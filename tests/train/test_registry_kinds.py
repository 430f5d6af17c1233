"""Every registered loss, optimizer and schedule (built-ins and installed plugins) is built from each of its
examples and exercised: a loss scores a batch it prepared and backpropagates, an optimizer takes a step that
moves the weights, a schedule gives finite, non-negative factors over a whole run."""

from __future__ import annotations

import math

import pytest
import torch

from blockforge.build import build_model
from blockforge.registry import default_registries
from blockforge.registry.context import TrainContext
from blockforge.registry.kinds import TRAINING_KINDS
from blockforge.spec.binding import slot_adapter
from blockforge.spec.params import examples_of

V, T, B = 40, 8, 3
LM = {"type": "lm", "vocab_size": V, "d_model": 16, "n_layers": 1, "max_len": T + 1,
      "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2, "causal": True},
                "feedforward": {"type": "mlp", "hidden": 32}}, "final_norm": "layernorm"}
ENCODER = {**LM, "type": "encoder", "head": "lm",
           "block": {**LM["block"], "attention": {"type": "mha", "heads": 2, "causal": False}}}
CLASSIFIER = {**ENCODER, "head": {"type": "classifier", "classes": 3}}
MODEL_FOR = {"next_token": LM, "masked": ENCODER, "classification": CLASSIFIER}

CASES = [
    pytest.param(c, ex, id=f"{c.kind.value}.{c.name}[{i}]")
    for c in default_registries().components() if c.kind in TRAINING_KINDS
    for i, ex in enumerate(examples_of(c.params) or [None])
]


def _build(component, example, model=None, steps=10):
    assert example is not None, f"{component.qualified_name} has required parameters but no examples"
    ref = slot_adapter(default_registries(), component.kind).validate_python({"type": component.name, **example})
    model = model if model is not None else build_model({"blockforge": 1, "model": LM}, seed=0)
    ctx = TrainContext(model=model, model_context=_ctx(model), steps=steps)
    return ref, component.factory(ref, ctx), model


def _ctx(model):
    from blockforge.spec import load_spec

    return load_spec(model.blockforge_spec).model.build_context()


def test_every_training_kind_has_builtins():
    for kind in TRAINING_KINDS:
        assert len(default_registries()[kind]) >= 3, kind


@pytest.mark.parametrize(("component", "example"), CASES)
def test_every_training_component_builds_and_works(component, example):
    kind = component.kind.value
    if kind == "loss":
        objective = component.params.objective
        model = build_model({"blockforge": 1, "model": MODEL_FOR[objective]}, seed=0)
        _, loss, model = _build(component, example, model)
        extra = 1 if objective == "next_token" else 0
        g = torch.Generator().manual_seed(0)
        tokens = torch.randint(3, V, (B, T + extra), generator=g)
        batch = {"tokens": tokens, "targets": torch.ones_like(tokens), "mask": torch.ones_like(tokens),
                 "label": torch.tensor([0, 1, 2])}
        prepared = loss.prepare(batch, generator=g, special={"mask": 1, "eos": 2, "pad": 2})
        assert prepared["input_ids"].shape == (B, T)
        out = model(prepared["input_ids"])
        value = loss(out, prepared["labels"], aux_loss=None)
        assert value.dim() == 0 and torch.isfinite(value)
        value.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    elif kind == "optimizer":
        _, opt, model = _build(component, example)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        ids = torch.randint(0, V, (B, T))
        model(ids).float().logsumexp(-1).mean().backward()
        opt.step()
        moved = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
        assert moved, "an optimizer step changed nothing"
        n_params = len({id(p) for p in model.parameters()})
        assert sum(len(g["params"]) for g in opt.param_groups) == n_params  # every tensor once, tied or not
    else:
        steps = 50
        _, schedule, _ = _build(component, example, steps=steps)
        factors = [schedule(s) for s in range(steps)]
        assert all(math.isfinite(f) and 0.0 <= f <= 1.0 + 1e-12 for f in factors), factors
        assert max(factors) > 0

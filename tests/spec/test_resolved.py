"""The resolved plan: resolved once per load, read by build, hash, plan and summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

import blockforge
from blockforge.spec import plan as plan_module
from blockforge.spec.resolved import ResolvedPlan

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture()
def counted(monkeypatch):
    """Counts plan resolutions (``resolve``: one per spec) and per-stack plan merges (``resolve_plan``)."""
    calls = {"resolve": 0, "resolve_plan": 0}
    real_resolve, real_plan = plan_module.resolve, plan_module.resolve_plan

    def resolve(*a, **k):
        calls["resolve"] += 1
        return real_resolve(*a, **k)

    def resolve_plan(*a, **k):
        calls["resolve_plan"] += 1
        return real_plan(*a, **k)

    import blockforge.spec.validate as validate_module

    monkeypatch.setattr(plan_module, "resolve", resolve)
    monkeypatch.setattr(validate_module, "resolve", resolve)
    monkeypatch.setattr(plan_module, "resolve_plan", resolve_plan)
    monkeypatch.setattr(validate_module, "resolve_plan", resolve_plan)
    return calls


def test_build_model_resolves_the_plan_once(counted):
    model = blockforge.build_model(SPECS / "tiny-gemma2.yaml", device="meta")
    assert counted == {"resolve": 1, "resolve_plan": 1}
    assert isinstance(model.blockforge_plan, ResolvedPlan)
    assert len(model.blockforge_plan.stack("layers")) == 4


def test_summarize_resolves_the_plan_once(counted):
    blockforge.summarize(SPECS / "tiny-gemma2.yaml")
    assert counted == {"resolve": 1, "resolve_plan": 1}


def test_layers_carry_provenance_of_variant_and_block():
    spec = blockforge.load_spec(SPECS / "tiny-gemma2.yaml")
    stack = spec.plan.stack("layers")
    local = [layer for layer in stack.layers if layer.steps == (("plan", "variants", "local"),)]
    assert local, "tiny-gemma2 has local layers"
    src = local[0].source(("attention", "window"))
    assert src.via == "variant" and src.variant == "local"
    assert src.location is not None and src.location.source.endswith("tiny-gemma2.yaml") and src.location.line
    base = local[0].source(("attention", "heads"))
    assert base.via == "block" and base.path == ("model", "block", "attention", "heads")
    assert [layer.block for layer in stack.layers] == spec.model.layers()


def test_set_override_is_the_provenance():
    spec = blockforge.load_spec(SPECS / "tiny.yaml", overrides=["model.block.dropout=0.25"])
    src = spec.plan.stack("layers").layers[0].source(("dropout",))
    assert src.location is not None and src.location.source == "--set"
    assert src.location.text == "model.block.dropout=0.25"


def test_equal_specs_stay_equal_resolved_or_not():
    a = blockforge.load_spec(SPECS / "tiny-gemma2.yaml")
    b = type(a).model_validate(a.model_dump(mode="json"))  # not resolved yet
    assert a == b
    assert blockforge.spec_hash(a) == blockforge.spec_hash(b)  # resolves b lazily
    assert a == b


def test_unknown_stack_names_the_stacks():
    spec = blockforge.load_spec(SPECS / "tiny.yaml")
    with pytest.raises(KeyError, match="model.layers"):
        spec.plan.stack("decoder_layers")

"""Every registered component (built-ins and installed plugins) is built from each of its examples
and run forward and backward."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_component
from blockforge.registry import default_registries
from blockforge.registry.kinds import MODEL_KINDS
from blockforge.spec.params import examples_of
from tests.harness import D, L, T, V, expected_shape, probe

COMPONENTS = [  # model parts; the training kinds (loss, optimizer, schedule) are built by tests/train/
    pytest.param(c, i, ex, id=f"{c.kind.value}.{c.name}[{i}]")
    for c in default_registries().components()
    if c.kind in MODEL_KINDS
    for i, ex in enumerate(examples_of(c.params) or [None])
]


@pytest.mark.parametrize(("component", "index", "example"), COMPONENTS)
def test_every_component_builds_and_runs(component, index, example):
    assert example is not None, (
        f"{component.qualified_name} has required parameters but declares no examples "
        "(json_schema_extra={'examples': [...]})"
    )
    ref = {"type": component.name, **example}
    module = build_component(component.kind.value, ref, d_model=D, vocab_size=V, max_len=max(L, T), n_layers=2,
                             registries=default_registries())
    out = probe(component.kind.value, module)
    assert out.shape == expected_shape(component.kind.value, module)
    assert torch.isfinite(out).all()
    params = [p for p in module.parameters() if p.requires_grad]
    if params:
        out.float().square().mean().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


@pytest.mark.parametrize(("component", "index", "example"), COMPONENTS)
def test_every_component_builds_on_meta(component, index, example):
    ref = {"type": component.name, **(example or {})}
    module = build_component(component.kind.value, ref, d_model=D, vocab_size=V, max_len=max(L, T), n_layers=2,
                             device="meta", registries=default_registries())
    assert all(p.is_meta for p in module.parameters())


MIXERS_AND_BLOCKS = [
    p for p in COMPONENTS
    if p.values[0].kind.value in ("attention", "block") and p.values[0].params.uses_positions != "cross"
]


@pytest.mark.parametrize(("component", "index", "example"), MIXERS_AND_BLOCKS)
def test_mixers_and_blocks_take_positions_and_mixers_use_them_as_declared(component, index, example):
    """Every mixer and block runs with ``positions=`` from no encoding, RoPE and ALiBi; a mixer's output
    depends on them exactly when its parameter model declares ``uses_positions = "applies"``."""
    kind = component.kind.value
    module = build_component(kind, {"type": component.name, **(example or {})}, d_model=D, vocab_size=V,
                             max_len=max(L, T), n_layers=2, registries=default_registries()).eval()
    with torch.no_grad():
        outs = {enc: probe(kind, module, positions=enc) for enc in ("none", "rope", "alibi")}
    for enc, out in outs.items():
        assert out.shape == expected_shape(kind, module) and torch.isfinite(out).all(), enc
    if kind == "attention":
        applies = component.params.uses_positions == "applies"
        for enc in ("rope", "alibi"):
            moved = (outs[enc] - outs["none"]).abs().max().item()
            if applies:
                assert moved > 1e-4, f"declares uses_positions='applies' but ignores {enc} (max change {moved})"
            else:  # same input, same weights, positions ignored: bit-identical
                assert moved == 0.0, f"declares uses_positions={component.params.uses_positions!r} but {enc} changed it"


def test_every_kind_has_a_builtin(registries):
    for kind in registries:
        assert len(registries[kind]) > 0, kind

"""Dynamic Tanh against its formula written out here, and the plugin as blockforge sees it."""

from __future__ import annotations

import math

import pytest
import torch

from blockforge.build import build_component, build_model
from blockforge.registry import load_plugins
from blockforge_dyt.module import DynamicTanh


def test_matches_the_formula_elementwise():
    m = DynamicTanh(d_model=3, alpha_init=0.7)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([1.0, 2.0, -1.0]))
        m.bias.copy_(torch.tensor([0.0, 0.5, 1.0]))
    x = torch.tensor([[0.3, -2.0, 5.0]])
    expected = [g * math.tanh(0.7 * v) + b for v, g, b in zip([0.3, -2.0, 5.0], [1.0, 2.0, -1.0], [0.0, 0.5, 1.0])]
    torch.testing.assert_close(m(x), torch.tensor([expected]), atol=1e-6, rtol=1e-6)


def test_initialisation_and_gradients():
    m = DynamicTanh(d_model=4, alpha_init=0.5)
    m.alpha.data.fill_(9.0)
    m.reset_parameters()
    assert m.alpha.item() == 0.5 and m.weight.eq(1).all() and m.bias.eq(0).all()
    m(torch.randn(2, 3, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        DynamicTanh(d_model=4, alpha_init=0.0)


def test_registered_and_usable_in_a_spec():
    ps = load_plugins(strict=True)
    info = ps.get("dyt")
    assert info.status == "loaded" and info.distribution == "blockforge-dyt" and info.components == ["norm.dyt"]
    m = build_component("norm", {"type": "dyt", "alpha_init": 0.25}, d_model=8, registries=ps.registries)
    assert isinstance(m, DynamicTanh) and m.alpha.item() == 0.25
    spec = {
        "blockforge": 1,
        "model": {
            "type": "lm", "vocab_size": 11, "d_model": 8, "n_layers": 1, "max_len": 4,
            "block": {"type": "transformer", "norm": "dyt", "attention": {"type": "mha", "heads": 2},
                      "feedforward": {"type": "mlp", "hidden": 16}},
            "final_norm": {"type": "dyt", "alpha_init": 1.0},
        },
    }
    model = build_model(spec, registries=ps.registries, seed=0)
    assert sum(isinstance(m, DynamicTanh) for m in model.modules()) == 3
    assert model(torch.randint(0, 11, (2, 4))).shape == (2, 4, 11)

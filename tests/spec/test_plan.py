"""Layer plans: selection, patterns, overrides, located errors, identity and the per-layer build."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from blockforge.errors import SpecError
from blockforge.spec import load_spec, spec_hash
from blockforge.spec.merge import merge
from blockforge.spec.plan import select

BASE = """\
blockforge: 1
model:
  type: lm
  vocab_size: 50
  d_model: 16
  n_layers: 6
  max_len: 8
  block:
    type: transformer
    attention: {type: mha, heads: 2}
    feedforward: {type: mlp, hidden: 32}
"""


def plan_spec(plan: str) -> str:
    return BASE + textwrap.indent(textwrap.dedent(plan), "  ")


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize(
    ("at", "n", "expected"),
    [(0, 4, [0]), (-1, 4, [3]), ([0, -1, 0], 4, [0, 3]), ("::2", 5, [0, 2, 4]), ("1:3", 6, [1, 2]),
     ("-2:", 6, [4, 5]), ("1::3", 7, [1, 4])],
)
def test_select(at, n, expected):
    assert select(at, n) == expected


@pytest.mark.parametrize("at", [6, -7, [1, 9], "4:2", "x:y", "::0", True])
def test_select_refuses(at):
    with pytest.raises(ValueError):
        select(at, 6)


def test_merge_rules():
    base = {"type": "transformer", "attention": {"type": "mha", "heads": 2, "bias": True}, "norm": {"type": "layernorm"}}
    m = merge(base, {"attention": {"heads": 4}, "norm": "rmsnorm"}).value
    assert m["attention"] == {"type": "mha", "heads": 4, "bias": True}
    assert m["norm"] == "rmsnorm"  # a bare name replaces the reference (shorthand for {type: rmsnorm})
    m = merge(base, {"attention": {"type": "other", "x": 1}}).value
    assert m["attention"] == {"type": "other", "x": 1}  # another type replaces
    m = merge(base, {"attention": {"$patch": "replace", "type": "mha", "heads": 8}}).value
    assert m["attention"] == {"type": "mha", "heads": 8}
    m = merge(base, {"norm": {"$patch": "delete"}}).value
    assert "norm" not in m
    assert base["attention"]["heads"] == 2  # the base is not modified


def test_pattern_and_overrides_resolve_each_layer(tmp_path, registries):
    spec = load_spec(write(tmp_path, plan_spec("""\
        plan:
          variants:
            narrow: {attention: {heads: 1}}
            wide: {feedforward: {hidden: 64}}
          pattern: [narrow, narrow, wide]
          overrides:
            - {at: -1, block: {norm_position: post}}
            - {at: "::2", variant: wide}
        """)), registries=registries)
    layers = spec.model.layers()
    assert [b.attention.heads for b in layers] == [1, 1, 2, 1, 1, 2]
    assert [b.feedforward.hidden for b in layers] == [64, 32, 64, 32, 64, 64]
    assert [b.norm_position for b in layers] == ["pre"] * 5 + ["post"]


def test_block_type_change_replaces_component(tmp_path, registries):
    spec = load_spec(write(tmp_path, plan_spec("""\
        plan:
          overrides:
            - at: 1
              block: {norm: rmsnorm, feedforward: {type: mlp, hidden: 8, activation: silu}}
        """)), registries=registries)
    layers = spec.model.layers()
    assert layers[0].norm.type == "layernorm" and layers[1].norm.type == "rmsnorm"
    assert layers[1].feedforward.activation.type == "silu" and layers[0].feedforward.activation.type == "relu"


def test_error_located_in_the_override(tmp_path, registries):
    path = write(tmp_path, plan_spec("""\
        plan:
          variants:
            bad: {attention: {heads: 3}}
          pattern: [bad, ok]
          overrides:
            - at: 2
              block: {feedforward: {hiden: 8}}
        """))
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=registries)
    issues = {i.code: i for i in info.value.issues}
    assert set(issues) == {"plan"}  # the unknown variant stops the plan before layer checks
    (issue,) = info.value.issues
    assert issue.path == ("model", "plan", "pattern", 1)
    assert issue.location.line == 15 and "unknown layer variant 'ok'" in issue.message
    assert "bad" in issue.hint


def test_layer_errors_point_at_the_value_and_name_the_layers(tmp_path, registries):
    path = write(tmp_path, plan_spec("""\
        plan:
          variants:
            bad: {attention: {heads: 3}}
          pattern: [bad, bad, bad]
          overrides:
            - at: "2:4"
              block: {feedforward: {hiden: 8}}
        """))
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=registries)
    by_code = {i.code: i for i in info.value.issues}
    contract = by_code["contract"]
    assert contract.path == ("model", "plan", "variants", "bad", "attention", "heads")
    assert (contract.location.line, contract.location.col) == (14, 32)
    assert "layers 0, 1" in contract.message and "not divisible" in contract.message
    unknown = by_code["unknown_key"]
    assert unknown.path == ("model", "plan", "overrides", 0, "block", "feedforward", "hiden")
    assert unknown.location.line == 18 and "layers 2, 3" in unknown.message
    assert "hidden" in unknown.hint


def test_plan_errors_reported_with_other_errors(tmp_path, registries):
    path = write(tmp_path, plan_spec("""\
        plan:
          overrides:
            - {at: 9, block: {}}
        """).replace("vocab_size: 50", "vocab_size: -1"))
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=registries)
    paths = {i.path for i in info.value.issues}
    assert ("model", "vocab_size") in paths
    assert ("model", "plan", "overrides", 0, "at") in paths


def test_hash_depends_on_resolved_layers_not_on_how_they_are_written(tmp_path, registries):
    a = load_spec(write(tmp_path, plan_spec("""\
        plan:
          pattern: [{attention: {heads: 4}}, {}]
        """), "a.yaml"), registries=registries)
    b = load_spec(write(tmp_path, plan_spec("""\
        plan:
          variants: {four: {attention: {heads: 4}}}
          overrides:
            - {at: "::2", variant: four}
        """), "b.yaml"), registries=registries)
    c = load_spec(write(tmp_path, BASE, "c.yaml"), registries=registries)
    assert spec_hash(a) == spec_hash(b) != spec_hash(c)
    empty = load_spec(write(tmp_path, plan_spec("plan: {}\n"), "d.yaml"), registries=registries)
    assert spec_hash(empty) == spec_hash(c)


def test_built_model_follows_the_plan(tmp_path, registries):
    torch = pytest.importorskip("torch")
    from blockforge.build import build_model

    spec = load_spec(write(tmp_path, plan_spec("""\
        plan:
          pattern: [{feedforward: {hidden: 8}}, {}]
        """)), registries=registries)
    model = build_model(spec, registries=registries, seed=0)
    sizes = [p.shape[0] for n, p in model.named_parameters() if n.endswith("feedforward.up.weight")
             or n.endswith("feedforward.fc1.weight") or n.endswith("feedforward.0.weight")]
    hidden = sorted({s for s in sizes})
    assert hidden == [8, 32], sizes
    out = model(torch.randint(0, 50, (1, 4)))
    assert out.shape == (1, 4, 50)


def test_a_model_with_two_stacks(registries):
    """A LayerStack may declare several stacks; each is planned, validated, located and hashed."""
    from blockforge.registry import hookimpl, load_plugins
    from blockforge.spec.params import BlockRef
    from blockforge.spec.plan import LayerPlan, LayerStack, Stack

    class TwoStacks(LayerStack):
        """Two stacks of blocks."""

        __blockforge_stacks__ = (Stack(), Stack("second_block", "n_second", "second_plan", "second_layers"))
        n_layers: int
        """First stack depth."""
        block: BlockRef
        """First stack block."""
        plan: LayerPlan | None = None
        """First stack plan."""
        n_second: int
        """Second stack depth."""
        second_block: BlockRef
        """Second stack block."""
        second_plan: LayerPlan | None = None
        """Second stack plan."""

    class Plugin:
        @hookimpl
        def blockforge_register_components(self, registry):
            registry.register("model", "two", params=TwoStacks, factory=lambda p, ctx: None)

    regs = load_plugins(entry_points=False, strict=True, extra=[("two", Plugin())]).registries
    block = {"type": "transformer", "attention": {"type": "mha", "heads": 2}, "feedforward": {"type": "mlp", "hidden": 8}}
    data = {"blockforge": 1, "model": {"type": "two", "n_layers": 2, "block": block, "n_second": 3,
                                       "second_block": block,
                                       "second_plan": {"overrides": [{"at": -1, "block": {"norm": "rmsnorm"}}]}}}
    spec = load_spec(data, registries=regs)
    second = spec.model.stack_layers(type(spec.model).__blockforge_stacks__[1])
    assert [b.norm.type for b in second] == ["layernorm", "layernorm", "rmsnorm"]
    assert [b.norm.type for b in spec.model.layers()] == ["layernorm", "layernorm"]
    bad = {**data, "model": {**data["model"], "second_plan": {"overrides": [{"at": 5, "block": {}}]}}}
    with pytest.raises(SpecError) as info:
        load_spec(bad, registries=regs)
    (issue,) = info.value.issues
    assert issue.path == ("model", "second_plan", "overrides", 0, "at") and "out of range" in issue.message
    from blockforge.spec.canonical import identity

    ident = identity(spec)["model"]
    assert len(ident["layers"]) == 2 and len(ident["second_layers"]) == 3 and "second_plan" not in ident

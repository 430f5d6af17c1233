"""One architecture, one hash: every alias (``Params.expands_to``) validates, hashes and builds as its expansion
(issue 11, item 7). Driven by the registry and by specs/."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_component
from blockforge.errors import SpecError
from blockforge.registry import default_registries
from blockforge.spec import load_spec, spec_hash
from blockforge.spec.binding import slot_adapter
from blockforge.spec.params import Params, examples_of
from tests.conftest import SPEC_FILES
from tests.harness import D, L, T, V, probe


def _is_alias(comp) -> bool:
    return comp.params.expands_to is not Params.expands_to


ALIASES = [c for c in default_registries().components() if _is_alias(c)]
CASES = [pytest.param(c, ex, id=f"{c.qualified_name}[{i}]")
         for c in ALIASES for i, ex in enumerate(examples_of(c.params))]


def test_the_known_aliases_are_declared():
    assert {c.qualified_name for c in ALIASES} >= {
        "feedforward.swiglu", "feedforward.geglu", "feedforward.reglu", "activation.gelu_tanh"}


def _expansion(comp, example):
    """The alias's expansion, as its own parameter model computes it (independent of the slot's validator)."""
    own = comp.params.model_validate(example)
    return own.expands_to()


@pytest.mark.parametrize(("comp", "example"), CASES)
def test_an_alias_validates_to_its_expansion(comp, example):
    adapter = slot_adapter(default_registries(), comp.kind)
    expansion = _expansion(comp, example)
    assert expansion["type"] != comp.name
    got = adapter.validate_python({"type": comp.name, **example})
    assert got == adapter.validate_python(expansion)
    assert got.type != comp.name and not _is_alias(default_registries()[comp.kind].get(got.type))


@pytest.mark.parametrize(("comp", "example"), CASES)
def test_an_alias_builds_what_its_expansion_builds(comp, example):
    kw = dict(d_model=D, vocab_size=V, max_len=max(L, T), n_layers=2, registries=default_registries(), seed=3)
    a = build_component(comp.kind.value, {"type": comp.name, **example}, **kw)
    b = build_component(comp.kind.value, _expansion(comp, example), **kw)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    torch.manual_seed(0)
    x = probe(comp.kind.value, a)
    torch.manual_seed(0)
    torch.testing.assert_close(x, probe(comp.kind.value, b), rtol=0, atol=0)


def test_an_error_in_an_alias_names_the_alias_keys(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("blockforge: 1\nmodel:\n  type: lm\n  vocab_size: 50\n  d_model: 16\n  n_layers: 1\n"
                    "  max_len: 8\n  block:\n    type: transformer\n    attention: {type: mha, heads: 2}\n"
                    "    feedforward: {type: swiglu, hidden: 32, activation: relu}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (issue,) = info.value.issues
    assert issue.code == "unknown_key" and issue.path == ("model", "block", "feedforward", "activation")
    assert issue.location.line == 11


def _spell_out(value, names):
    """``value`` with every alias reference (bare or mapping) replaced by its expansion."""
    if isinstance(value, str) and value in names:
        return _spell_out(_expansion(names[value], {}), names)
    if isinstance(value, dict):
        if value.get("type") in names:
            comp = names[value["type"]]
            return _spell_out(_expansion(comp, {k: v for k, v in value.items() if k != "type"}), names)
        return {k: _spell_out(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_spell_out(v, names) for v in value]
    return value


ALIASED_SPECS = [p for p in SPEC_FILES if any(c.name in p.read_text() for c in ALIASES)]


def test_specs_use_aliases():
    assert len(ALIASED_SPECS) >= 2


@pytest.mark.parametrize("path", ALIASED_SPECS, ids=lambda p: p.name)
def test_a_spec_hashes_the_same_with_its_aliases_spelled_out(path):
    import yaml

    names = {c.name: c for c in ALIASES}
    assert len(names) == len(ALIASES), "alias names are unique across kinds (this test finds them by name)"
    raw = yaml.safe_load(path.read_text())
    spelled = _spell_out(raw, names)
    assert spelled != raw
    assert spec_hash(load_spec(spelled)) == spec_hash(load_spec(path))


def test_a_plan_patches_the_expanded_form_of_an_alias(tmp_path):
    """A layer plan merges over the validated base block, where an alias is already its expansion."""
    path = tmp_path / "spec.yaml"
    path.write_text("blockforge: 1\nmodel:\n  type: lm\n  vocab_size: 50\n  d_model: 16\n  n_layers: 2\n"
                    "  max_len: 8\n  block:\n    type: transformer\n    attention: {type: mha, heads: 2}\n"
                    "    feedforward: {type: geglu, hidden: 32}\n"
                    "  plan:\n    overrides: [{at: 1, block: {feedforward: {activation: {approximate: none}}}}]\n")
    layers = load_spec(path).model.layers()
    assert [(b.feedforward.type, b.feedforward.activation.approximate) for b in layers] == [
        ("glu", "tanh"), ("glu", "none")]

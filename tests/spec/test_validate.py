"""Validation: every invalid spec gives every problem, located, with what would be valid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from blockforge.errors import SpecError
from blockforge.spec import canonical, load_spec, spec_hash

GOOD = """\
blockforge: 1
name: t
model:
  type: lm
  vocab_size: 50
  d_model: 16
  n_layers: 2
  max_len: 8
  block:
    type: transformer
    attention: {type: mha, heads: 2}
    feedforward: {type: mlp, hidden: 32, activation: relu}
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def issues_of(path: Path, registries) -> list:
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=registries)
    return list(info.value.issues)


def test_good_spec_validates_and_fills_defaults(tmp_path, registries):
    spec = load_spec(write(tmp_path, GOOD), registries=registries)
    assert spec.model.block.norm.type == "layernorm"
    assert spec.model.block.feedforward.activation.type == "relu"
    data = canonical(spec)
    assert list(data["model"])[0] == "type"
    assert data["model"]["block"]["norm"] == {"type": "layernorm", "eps": 1e-5, "bias": True}


def test_bare_name_equals_tagged_object(tmp_path, registries):
    a = load_spec(write(tmp_path, GOOD, "a.yaml"), registries=registries)
    b = load_spec(write(tmp_path, GOOD.replace("activation: relu", "activation: {type: relu}"), "b.yaml"),
                  registries=registries)
    assert spec_hash(a) == spec_hash(b)


def test_unknown_key_with_suggestion(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("heads: 2}", "heads: 2, casual: true}")), registries)
    assert issue.code == "unknown_key"
    assert issue.path == ("model", "block", "attention", "casual")
    assert (issue.location.line, issue.location.col) == (11, 38)
    assert "did you mean 'causal'" in issue.hint


def test_unknown_top_level_key(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD + "modle: 3\n"), registries)
    assert issue.path == ("modle",)
    assert "'model'" in issue.hint


def test_misspelt_component_name(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("activation: relu", "activation: reluu")), registries)
    assert issue.code == "unknown_component"
    assert issue.message == "unknown activation component 'reluu'"
    assert issue.path == ("model", "block", "feedforward", "activation")
    assert issue.location.line == 12
    assert "'relu'" in issue.hint


def test_misspelt_component_in_tagged_form_points_at_type(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("type: mha", "type: mah")), registries)
    assert issue.path == ("model", "block", "attention", "type")
    assert (issue.location.line, issue.location.col) == (11, 23)
    assert "'mha'" in issue.hint


def test_wrong_type(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("hidden: 32", "hidden: lots")), registries)
    assert issue.path == ("model", "block", "feedforward", "hidden")
    assert "integer" in issue.message and "'lots'" in issue.message


@pytest.mark.parametrize(("old", "new", "path"), [
    ("vocab_size: 50", "vocab_size: 0", ("model", "vocab_size")),
    ("d_model: 16", "d_model: -16", ("model", "d_model")),
    ("n_layers: 2", "n_layers: 0", ("model", "n_layers")),
    ("hidden: 32", "hidden: -1", ("model", "block", "feedforward", "hidden")),
    ("heads: 2", "heads: 0", ("model", "block", "attention", "heads")),
])
def test_non_positive_sizes(tmp_path, registries, old, new, path):
    (issue,) = issues_of(write(tmp_path, GOOD.replace(old, new)), registries)
    assert issue.path == path
    assert "greater than 0" in issue.message
    assert issue.location.line is not None


def test_absurd_sizes_refused_at_validation(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("d_model: 16", "d_model: 1000000000")), registries)
    assert issue.path == ("model", "d_model") and "less than or equal" in issue.message


def test_d_model_not_divisible_by_heads(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("heads: 2", "heads: 3")), registries)
    assert issue.code == "contract"
    assert issue.path == ("model", "block", "attention", "heads")
    assert issue.location.line == 11
    assert "d_model=16 is not divisible by heads=3" in issue.message


def test_all_errors_at_once_in_source_order(tmp_path, registries):
    text = GOOD.replace("vocab_size: 50", "vocab_size: -1").replace("activation: relu", "activation: rel")
    text = text.replace("heads: 2}", "heads: 2, bais: true}") + "extra: 1\n"
    issues = issues_of(write(tmp_path, text), registries)
    assert [i.path[-1] for i in issues] == ["vocab_size", "bais", "activation", "extra"]
    lines = [i.location.line for i in issues]
    assert lines == sorted(lines)


def test_missing_required_key(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("    feedforward: {type: mlp, hidden: 32, activation: relu}\n", "")),
                         registries)
    assert issue.code == "missing" and issue.path == ("model", "block", "feedforward")
    assert issue.location.line == 10  # the block mapping that lacks it


def test_missing_type_on_a_reference(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("{type: mha, heads: 2}", "{heads: 2}")), registries)
    assert issue.code == "missing_type" and "mha" in issue.hint


def test_literal_with_suggestion(tmp_path, registries):
    text = GOOD.replace("    type: transformer\n", "    type: transformer\n    norm_position: psot\n")
    (issue,) = issues_of(write(tmp_path, text), registries)
    assert issue.path == ("model", "block", "norm_position")
    assert "'pre', 'post', 'sandwich' or 'output'" in issue.hint and "did you mean 'post'" in issue.hint


def test_unknown_format_version(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("blockforge: 1", "blockforge: 7")), registries)
    assert issue.code == "format_version" and "blockforge: 1" in issue.hint


def test_top_level_must_be_a_mapping(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, "- a\n- b\n"), registries)
    assert issue.code == "top_level"


def test_malformed_yaml(tmp_path, registries):
    (issue,) = issues_of(write(tmp_path, GOOD.replace("heads: 2}", "heads: 2")), registries)
    assert issue.code == "syntax" and issue.location.line is not None


def test_json_spec_locations(tmp_path, registries):
    import json

    import yaml

    data = yaml.safe_load(GOOD)
    data["model"]["block"]["attention"]["heads"] = "two"
    (issue,) = issues_of(write(tmp_path, json.dumps(data, indent=2), "s.json"), registries)
    assert issue.path == ("model", "block", "attention", "heads")
    assert issue.location.source.endswith("s.json") and issue.location.line > 1


def test_hash_ignores_formatting_order_and_name(tmp_path, registries):
    import json

    import yaml

    a = load_spec(write(tmp_path, GOOD, "a.yaml"), registries=registries)
    data = yaml.safe_load(GOOD)
    data["name"] = "renamed"
    data["model"] = dict(reversed(list(data["model"].items())))
    b = load_spec(write(tmp_path, json.dumps(data), "b.json"), registries=registries)
    assert spec_hash(a) == spec_hash(b)
    c = load_spec(write(tmp_path, GOOD.replace("hidden: 32", "hidden: 33"), "c.yaml"), registries=registries)
    assert spec_hash(a) != spec_hash(c)


@pytest.mark.parametrize(("attention", "message"), [
    ("{type: mha, heads: 4}", "must be causal"),
    ("{type: mha, heads: 4, causal: false}", "must be causal"),
    ("{type: lstm, bidirectional: true}", "bidirectional mixer in the decoder"),
])
def test_a_decoder_that_sees_its_targets_is_refused(tmp_path, registries, attention, message):
    from tests.conftest import SPECS_DIR

    text = (SPECS_DIR / "tiny-encoder-decoder.yaml").read_text()
    bad = text.replace("    attention: {type: mha, heads: 4, causal: true}", f"    attention: {attention}")
    assert bad != text
    (issue,) = issues_of(write(tmp_path, bad), registries)
    assert message in issue.message
    assert issue.path == ("model", "decoder_block", "attention")
    assert issue.location.line == 19  # the decoder block's attention line

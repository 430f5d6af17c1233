"""A spec value means one thing in YAML, JSON, ``--set`` and the exported schema: parameter models are strict
(no boolean or string where a number goes) and refuse non-finite numbers (issue 12, items 2 and 3)."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
from pydantic import ValidationError

from blockforge.errors import SpecError
from blockforge.registry import default_registries
from blockforge.spec import load_spec
from blockforge.spec.binding import binder, slot_adapter
from blockforge.spec.params import examples_of
from blockforge.spec.schema import spec_schema

SPEC = """\
blockforge: 1
model:
  type: lm
  vocab_size: 50
  d_model: 16
  n_layers: 2
  max_len: 8
  block:
    type: transformer
    attention: {type: mha, heads: 2}
    feedforward: {type: mlp, hidden: 32, activation: gelu}
"""


def issues(tmp_path, text, *, suffix=".yaml", overrides=()):
    path = tmp_path / f"spec{suffix}"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path, overrides=overrides)
    return {".".join(map(str, i.path)): i for i in info.value.issues}


# --- the issue's inputs, in YAML, JSON and --set --------------------------------------------------------------

def test_booleans_and_strings_are_not_numbers_in_yaml(tmp_path):
    # the issue's `yes`/`on` are refused by the YAML 1.2 loader already (item 1); a boolean is a boolean
    got = issues(tmp_path, SPEC.replace("n_layers: 2", "n_layers: yes"))
    assert list(got) == ["model.n_layers"]
    text = (SPEC.replace("n_layers: 2", "n_layers: true")
            .replace("heads: 2}", "heads: false, kv_heads: true}")
            .replace("hidden: 32", 'hidden: "384"'))
    got = issues(tmp_path, text)
    assert {p: i.code for p, i in got.items()} == {
        "model.n_layers": "int_type",
        "model.block.attention.heads": "int_type",
        "model.block.attention.kv_heads": "int_type",
        "model.block.feedforward.hidden": "int_type",
    }
    assert (got["model.n_layers"].location.line, got["model.n_layers"].location.col) == (6, 13)
    assert "boolean" in got["model.block.attention.heads"].hint
    assert "without quotes" in got["model.block.feedforward.hidden"].hint


def test_booleans_and_strings_are_not_numbers_in_json(tmp_path):
    import yaml

    data = yaml.safe_load(SPEC)
    data["model"]["n_layers"] = True
    data["model"]["block"]["feedforward"]["hidden"] = "384"
    got = issues(tmp_path, json.dumps(data), suffix=".json")
    assert {p: i.code for p, i in got.items()} == {
        "model.n_layers": "int_type", "model.block.feedforward.hidden": "int_type"}


def test_booleans_and_strings_are_not_numbers_in_set(tmp_path):
    got = issues(tmp_path, SPEC, overrides=["model.n_layers=true", "model.block.feedforward.hidden='384'",
                                            "model.block.attention.causal=1"])
    assert {p: i.code for p, i in got.items()} == {
        "model.n_layers": "int_type", "model.block.feedforward.hidden": "int_type",
        "model.block.attention.causal": "bool_type"}
    assert all(i.location.source == "--set" for i in got.values())


@pytest.mark.parametrize("where", ["yaml", "set", "dict"])
def test_non_finite_numbers_are_refused(tmp_path, where):
    if where == "yaml":
        got = issues(tmp_path, SPEC.replace("heads: 2}", "heads: 2, scale: .inf}"))
    elif where == "set":
        got = issues(tmp_path, SPEC, overrides=["model.block.attention.scale=.nan"])
    else:  # the Python API (JSON files cannot write infinity: the loader refuses `Infinity` as a syntax error)
        import yaml

        data = yaml.safe_load(SPEC)
        data["model"]["block"]["attention"]["scale"] = -math.inf
        with pytest.raises(SpecError) as info:
            load_spec(data)
        got = {".".join(map(str, i.path)): i for i in info.value.issues}
    assert [(p, i.code) for p, i in got.items()] == [("model.block.attention.scale", "finite_number")]


# --- the kind: every number field of every registered component -----------------------------------------------

def _number_fields():
    regs = default_registries()
    b = binder(regs)
    out = []
    for comp in regs.components():
        examples = examples_of(comp.params)
        if not examples:
            continue
        props = b.component_model(comp).model_json_schema()["properties"]
        for field, prop in props.items():
            types = {prop.get("type")} | {a.get("type") for a in prop.get("anyOf", [])}
            if types & {"integer", "number"}:
                out.append(pytest.param(comp, field, "number" in types and "integer" not in types,
                                        examples[0], id=f"{comp.qualified_name}.{field}"))
    return out


NUMBER_FIELDS = _number_fields()


@pytest.fixture(scope="module")
def spec_defs():
    """The component definitions of the exported schema (with the bare-name shorthand)."""
    return spec_schema(default_registries())["$defs"]


def _refused(comp, example, field, value):
    ref = {"type": comp.name, **example, field: value}
    with pytest.raises(ValidationError) as info:
        slot_adapter(default_registries(), comp.kind).validate_python(ref)
    assert any(e["loc"][-1] == field for e in info.value.errors()), info.value


def test_number_fields_are_found():
    names = {p.id for p in NUMBER_FIELDS}
    assert {"attention.mha.heads", "attention.mha.scale", "model.lm.n_layers", "positional.rope.theta"} <= names


@pytest.mark.parametrize(("comp", "field", "is_float", "example"), NUMBER_FIELDS)
def test_every_number_field_refuses_booleans_strings_and_non_finite(comp, field, is_float, example):
    for bad in (True, False, "4", "4.0"):
        _refused(comp, example, field, bad)
    for bad in (math.inf, -math.inf, math.nan):
        _refused(comp, example, field, bad)


@pytest.mark.parametrize(("comp", "field", "is_float", "example"), NUMBER_FIELDS)
def test_the_schema_refuses_what_validation_refuses(spec_defs, comp, field, is_float, example):
    name = next(k for k, d in spec_defs.items() if d.get("title") == f"{comp.kind.value}.{comp.name}")
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": spec_defs})
    good = {"type": comp.name, **example}
    assert validator.is_valid(good)
    for bad in (True, "4"):
        assert not validator.is_valid({**good, field: bad})


def test_a_transformers_config_with_infinity_is_refused(tmp_path):
    """Python's json reads `Infinity` in a config.json; the spec it converts to is refused, naming the key."""
    from blockforge.interop.hf_config import config_to_spec, read_config
    from blockforge.interop.hf_reader import UnsupportedConfigError

    path = tmp_path / "config.json"
    path.write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 64, '
                    '"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, '
                    '"num_key_value_heads": 2, "max_position_embeddings": 32, "rms_norm_eps": 1e-5, '
                    '"rope_theta": Infinity, "tie_word_embeddings": false, "hidden_act": "silu"}')
    with pytest.raises(UnsupportedConfigError, match=r"rope_theta = inf: Input should be a finite number"):
        config_to_spec(read_config(path))

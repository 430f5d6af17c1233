"""The exported JSON Schema accepts every spec in specs/ and rejects known-bad ones (checked by jsonschema)."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from blockforge.registry import Kind, Registries, hookimpl, load_plugins
from blockforge.spec import Params
from blockforge.spec.compose import extend
from blockforge.spec.loader import load_file
from blockforge.spec.schema import spec_schema
from tests.conftest import SPEC_FILES


@pytest.fixture(scope="module")
def validator():
    schema = spec_schema(load_plugins().registries)  # installed plugins too: SPEC_FILES may use them
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def load(path):
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def composed(path):
    """The document after ``extends:`` (a file that extends another is a partial override; the schema
    describes the spec it composes to)."""
    data = load(path)
    if isinstance(data, dict) and "extends" in data:
        data = extend(load_file(path), path.parent).data
    return data


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_spec_in_the_folder_is_valid(validator, path):
    errors = [e.message for e in validator.iter_errors(composed(path))]
    assert errors == []


GOOD = {
    "blockforge": 1,
    "model": {
        "type": "lm", "vocab_size": 50, "d_model": 16, "n_layers": 2, "max_len": 8,
        "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2},
                  "feedforward": {"type": "mlp", "hidden": 32, "activation": "relu"}},
    },
}


def bad(path: tuple, value):
    import copy

    data = copy.deepcopy(GOOD)
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return data


def test_good_and_shorthand_are_valid(validator):
    assert validator.is_valid(GOOD)
    assert validator.is_valid(bad(("model", "block", "norm"), "rmsnorm"))


@pytest.mark.parametrize(
    "data",
    [
        bad(("model", "block", "attention", "casual"), True),  # unknown key
        bad(("model", "block", "feedforward", "activation"), "gelo"),  # unknown component name
        bad(("model", "block", "attention"), {"heads": 2}),  # reference without type
        bad(("model", "n_layers"), "six"),  # wrong type
        bad(("model", "d_model"), 0),  # out of range
        bad(("blockforge",), 2),  # unknown format version
        bad(("model", "block", "norm_position"), "middle"),  # not an allowed literal
        {"blockforge": 1},  # no model
    ],
    ids=["unknown_key", "unknown_name", "no_type", "wrong_type", "zero", "version", "literal", "no_model"],
)
def test_known_bad_specs_fail(validator, data):
    assert not validator.is_valid(data)


def _attribute_docstring(cls: type, field: str) -> str:
    """The docstring written under ``field`` in ``cls``'s source, read with ast (independent of pydantic)."""
    import ast
    import inspect
    import textwrap

    for klass in cls.__mro__:  # the field may be declared on a base class
        if "__annotations__" not in vars(klass) or field not in vars(klass)["__annotations__"]:
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for stmt, nxt in zip(body, body[1:]):
            if isinstance(stmt, ast.AnnAssign) and getattr(stmt.target, "id", None) == field:
                assert isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant), f"{field}: no docstring"
                return inspect.cleandoc(nxt.value.value)
    raise AssertionError(f"{cls.__name__}.{field} not found")


def test_descriptions_come_from_field_docstrings(validator):
    from blockforge.builtins.attention import MultiHeadAttentionParams
    from blockforge.builtins.block import TransformerBlockParams

    defs = validator.schema["$defs"]
    mha = next(d for d in defs.values() if d.get("title") == "attention.mha")
    assert mha["properties"]["heads"]["description"] == _attribute_docstring(MultiHeadAttentionParams, "heads")
    assert mha["required"][0] == "type"
    block = next(d for d in defs.values() if d.get("title") == "block.transformer")
    want = _attribute_docstring(TransformerBlockParams, "attention")  # a slot field
    assert block["properties"]["attention"]["description"] == want


class WindowParams(Params):
    """A plugin's attention."""

    heads: int
    """Heads of the plugin attention."""


class _Plugin:
    @hookimpl
    def blockforge_register_components(self, registry):
        registry.register("attention", "plugin_window", params=WindowParams, factory=lambda p, ctx: None)


def test_plugins_are_in_the_schema():
    registries: Registries = load_plugins(entry_points=False, strict=True, extra=[("window-plugin", _Plugin())]).registries
    schema = spec_schema(registries)
    v = jsonschema.Draft202012Validator(schema)
    data = bad(("model", "block", "attention"), {"type": "plugin_window", "heads": 2})
    assert v.is_valid(data)
    assert not v.is_valid(bad(("model", "block", "attention"), {"type": "plugin_window", "heads": "x"}))
    assert Kind.ATTENTION.value == "attention"


def test_the_schema_and_listings_leave_registered_classes_unchanged():
    """Descriptions come from docstrings into the schema and `components` rows, never into the classes."""
    from blockforge.cli.components import param_rows

    regs = load_plugins(entry_points=False, strict=True).registries
    before = {c.qualified_name: {n: (f.description, id(f)) for n, f in c.params.model_fields.items()}
              for c in regs.components()}
    mha = regs["attention"].get("mha").params
    assert mha.model_fields["heads"].description is None  # documented by its docstring only
    schema = spec_schema(regs)
    rows = {r["name"]: r for r in param_rows(mha)}
    after = {c.qualified_name: {n: (f.description, id(f)) for n, f in c.params.model_fields.items()}
             for c in regs.components()}
    assert after == before
    assert rows["heads"]["description"] == _attribute_docstring(mha, "heads")
    mha_def = next(d for d in schema["$defs"].values() if d.get("title") == "attention.mha")
    assert mha_def["properties"]["heads"]["description"] == _attribute_docstring(mha, "heads")


def test_a_mapping_without_type_patches_the_default_in_the_schema_too(validator):
    """Validation reads `norm: {eps: ...}` as a patch of the field's default component (issue 12, item 4);
    the schema agrees, and still refuses it where the field has no default component."""
    from blockforge.spec import load_spec

    for path, value, ok in [
        (("model", "block", "norm"), {"eps": 0.5}, True),
        (("model", "positional"), {"base": 500.0}, True),
        (("model", "block", "norm"), {"eps": 0.5, "epz": 1}, False),
        (("model", "final_norm"), {"eps": 0.5}, False),
        (("model", "block", "attention"), {"heads": 2}, False),
    ]:
        data = bad(path, value)
        assert validator.is_valid(data) is ok, (path, value)
        try:
            load_spec(data)
        except Exception:
            assert not ok, (path, value)
        else:
            assert ok, (path, value)


def _error_at(validator, data):
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(data))
    return (list(error.absolute_path), error.message) if error is not None else None


def test_errors_land_on_the_offending_component(validator):
    # issue 17: a misspelt key was reported at $.model ("not valid under any of the given schemas")
    path, message = _error_at(validator, bad(("model", "block", "attention", "kv_head"), 2))
    assert path == ["model", "block", "attention"] and "'kv_head' was unexpected" in message
    path, message = _error_at(validator, bad(("model", "block", "attention", "heads"), "four"))
    assert path == ["model", "block", "attention", "heads"] and "integer" in message
    path, message = _error_at(validator, bad(("model", "block", "feedforward", "activation"), "gelo"))
    assert path == ["model", "block", "feedforward", "activation"] and "'gelo' is not one of" in message
    assert "oneOf" not in json.dumps(validator.schema)  # discriminated on `type` with if/then throughout


def test_what_the_loader_accepts_is_valid(validator, tmp_path):
    from blockforge.spec import load_spec
    from tests.conftest import SPECS_DIR

    with_refs = bad(("model", "block", "feedforward", "hidden"), "${model.d_model}")
    assert _error_at(validator, with_refs) is None
    child = {"extends": "gpt2-small.yaml", "name": "gpt2-12l-rms",  # the README's extends example
             "model": {"block": {"norm": "rmsnorm", "attention": {"dropout": 0.0},
                                 "feedforward": {"$patch": "replace", "type": "mlp", "hidden": 3072,
                                                 "activation": "silu"}}}}
    (tmp_path / "gpt2-small.yaml").write_text((SPECS_DIR / "gpt2-small.yaml").read_text())
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(child))
    load_spec(tmp_path / "child.yaml")  # the loader accepts it ...
    assert _error_at(validator, child) is None  # ... and so does the schema
    # below a component whose `type` the child leaves to its base nothing can be checked; where it says
    # the type, a typo is found at its place
    child["model"].update(type="lm")
    child["model"]["block"].update(type="transformer")
    assert _error_at(validator, child) is None
    child["model"]["block"]["feedforward"]["hiden"] = 1
    path, message = _error_at(validator, child)
    assert path == ["model", "block", "feedforward"] and "'hiden' was unexpected" in message

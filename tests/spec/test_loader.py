"""Loading YAML/JSON with locations, and refusing hostile input quickly with bounded memory."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from blockforge.errors import SpecError
from blockforge.spec.loader import MAX_BYTES, MAX_DEPTH, load_file, load_text


def test_yaml_locations_are_one_based():
    doc = load_text("a: 1\nb:\n  c: [x, y]\n", source="f.yaml")
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"]}}
    assert (doc.values[("a",)].line, doc.values[("a",)].col) == (1, 4)
    assert (doc.values[("b", "c", 1)].line, doc.values[("b", "c", 1)].col) == (3, 10)
    assert (doc.keys[("b", "c")].line, doc.keys[("b", "c")].col) == (3, 3)


def test_json_values_and_locations(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"a": {"b": 1e-5, "c": [1, 2]}}, indent=2))
    doc = load_file(p)
    assert doc.data == {"a": {"b": 1e-5, "c": [1, 2]}}
    assert doc.values[("a", "b")].line == 3


def test_yaml_scalars_follow_yaml_rules():
    doc = load_text("a: 1.0e-5\nb: true\nc: null\nd: '5'\ne: 0x10\n")
    assert doc.data == {"a": 1e-5, "b": True, "c": None, "d": "5", "e": 16}


def test_merge_keys_work():
    doc = load_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert doc.data["other"] == {"x": 1, "y": 3}


def _refused(text: str, code: str, fmt: str = "yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        load_text(text, source="hostile.yaml", fmt=fmt)
    assert info.value.issues[0].code == code, info.value
    return info.value


def test_alias_bomb_is_refused_with_bounded_memory(no_hang):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    text = "\n".join(lines) + "\n"  # expands to 10**12 values
    tracemalloc.start()
    _refused(text, "too_large")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20


def test_deep_nesting_is_refused(no_hang):
    depth = MAX_DEPTH * 50
    _refused("a: " + "[" * depth + "]" * depth + "\n", "too_deep")
    _refused("{" + '"a": {' * depth + "}" * depth + "}", "too_deep", fmt="json")


def test_huge_input_is_refused(no_hang):
    _refused("a: " + "x" * (MAX_BYTES + 1), "too_large")


def test_huge_file_is_refused_without_reading(tmp_path):
    p = tmp_path / "big.yaml"
    with p.open("wb") as f:
        f.truncate(64 * MAX_BYTES)  # sparse: refused from its size alone
    with pytest.raises(SpecError, match="limit"):
        load_file(p)


def test_duplicate_keys_are_refused_with_both_lines():
    err = _refused("a: 1\nb: 2\na: 3\n", "duplicate_key")
    assert "first defined at line 1" in err.issues[0].message
    assert err.issues[0].location.line == 3
    _refused('{"a": 1, "a": 2}', "duplicate_key", fmt="json")


def test_non_string_keys_are_refused():
    _refused("1: a\n", "key_type")
    _refused("? [a, b]\n: c\n", "key_type")


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['echo hacked']\n",
        "a: !!python/name:os.system\n",
        "a: !custom 3\n",
        "a: !!binary aGVsbG8=\n",
    ],
)
def test_tags_are_refused(text):
    _refused(text, "tag")


def test_malformed_yaml_is_located():
    err = _refused("a: [1, 2\nb: 3\n", "syntax")
    assert err.issues[0].location.line is not None


def test_malformed_json_is_located():
    err = _refused('{"a": 1,\n "b": }', "syntax", fmt="json")
    assert err.issues[0].location.line == 2


def test_nan_in_json_is_refused():
    _refused('{"a": NaN}', "syntax", fmt="json")


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_file(tmp_path / "nope.yaml")

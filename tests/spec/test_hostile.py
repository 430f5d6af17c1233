"""Hostile input through the spec language: refused quickly, with a clear error and bounded memory."""

from __future__ import annotations

import resource

import pytest

from blockforge.errors import SpecError
from blockforge.spec import load_spec

HUGE = """\
blockforge: 1
model:
  type: lm
  vocab_size: {vocab}
  d_model: {d}
  n_layers: {layers}
  max_len: 8
  block:
    type: transformer
    attention: {{type: mha, heads: 64}}
    feedforward: {{type: mlp, hidden: {hidden}}}
"""


def test_spec_needing_1e15_parameters_is_refused_at_validation(tmp_path, registries, no_hang):
    # 12 * d^2 per layer: d = 2**20 and 1024 layers would be ~1.35e16 parameters
    p = tmp_path / "huge.yaml"
    p.write_text(HUGE.format(vocab=50, d=2**20, layers=1024, hidden=4 * 2**20))
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    paths = {i.path for i in info.value.issues}
    assert ("model", "d_model") in paths and ("model", "block", "feedforward", "hidden") in paths
    assert all("less than or equal" in i.message for i in info.value.issues)


def test_largest_allowed_spec_is_refused_on_cpu_quickly_with_bounded_memory(tmp_path, registries, no_hang):
    pytest.importorskip("torch")
    from blockforge.build import BuildError, build_model

    # ~1.7e12 parameters, every size within its limit: ~6 TiB on CPU. The builder constructs on the
    # meta device first and refuses before allocating anything.
    import torch  # noqa: F401  (imported before tracing: the import is not the spec's memory)

    p = tmp_path / "big.yaml"
    p.write_text(HUGE.format(vocab=2**22, d=2**17, layers=16, hidden=2**17))
    build_model(None, registries=registries, device="meta")  # warm up: imports are not the refusal's cost
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(BuildError) as info:
        build_model(p, registries=registries, device="cpu")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    assert "GiB" in str(info.value) and "blockforge summary" in str(info.value)
    assert grown < 512 * 1024  # peak resident memory grew by less than 512 MiB


def test_plan_on_the_largest_stack_is_cheap(tmp_path, registries, no_hang):
    p = tmp_path / "plan.yaml"
    p.write_text(HUGE.format(vocab=50, d=128, layers=1024, hidden=256)
                 + "  plan:\n    pattern: [{attention: {heads: 2}}, {}, {feedforward: {hidden: 64}}]\n")
    spec = load_spec(p, registries=registries)
    assert len(spec.model.layers()) == 1024


def test_alias_bomb_in_a_set_override_is_refused(tmp_path, registries, no_hang):
    lines = ["{a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    value = ", ".join(lines) + "}"
    with pytest.raises(SpecError) as info:
        load_spec(None, registries=registries, overrides=[f"description={value}"])
    (issue,) = info.value.issues
    assert issue.code == "too_large" and issue.location.source == "--set"


@pytest.mark.parametrize("value", ["!!python/object/apply:os.system [echo hi]", "{1: 2}", "{a: 1, a: 2}"])
def test_set_values_get_the_same_loader_checks(registries, value):
    with pytest.raises(SpecError) as info:
        load_spec(None, registries=registries, overrides=[f"description={value}"])
    (issue,) = info.value.issues
    assert issue.code in ("tag", "key_type", "duplicate_key") and issue.location.source == "--set"


def test_wide_extends_list_is_refused(tmp_path, registries):
    (tmp_path / "b.yaml").write_text("blockforge: 1\n")
    p = tmp_path / "a.yaml"
    p.write_text("extends: [" + ", ".join(["b.yaml"] * 1000) + "]\n")
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    assert info.value.issues[0].code == "extends"


def test_unknown_format_version_in_a_base_is_refused(tmp_path, registries):
    (tmp_path / "b.yaml").write_text("blockforge: 2\n")
    p = tmp_path / "a.yaml"
    p.write_text("extends: b.yaml\nblockforge: 1\n")
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    (issue,) = info.value.issues
    assert issue.code == "format_version" and issue.location.source.endswith("b.yaml")


def test_duplicate_key_in_json_is_located(tmp_path, registries):
    p = tmp_path / "d.json"
    p.write_text('{"blockforge": 1,\n "model": {"type": "lm",\n   "type": "x"}}\n')
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    (issue,) = info.value.issues
    assert issue.code == "duplicate_key" and (issue.location.line, issue.location.col) == (3, 4)
    assert "line 2" in issue.message


# -- issue 18 items 1-3, 6, 7 and issue 12 item 1: the loader and composition are bounded and exact ---

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from blockforge.spec import load_document  # noqa: E402
from blockforge.spec.loader import MAX_BYTES, MAX_DEPTH, load_file, load_text  # noqa: E402

TINY = Path(__file__).resolve().parents[2] / "specs" / "tiny.yaml"


def _bounded(fn, *, seconds: float = 5.0, mib: int = 100) -> SpecError:
    """Run ``fn``, expect a SpecError, and hold it to a time bound and a bound on the growth of the
    process's peak resident memory (tracemalloc would slow the parser's loop tenfold).

    The bound is on this process's CPU time (what the refusal costs, whatever else the machine runs: CI
    shares its cores), with a wall-clock bound five times looser for what uses no CPU (a blocking read)."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t0, c0 = time.perf_counter(), time.process_time()
    with pytest.raises(SpecError) as info:
        fn()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    assert cpu < seconds, f"refusal took {cpu:.1f} s of CPU"
    assert elapsed < 5 * seconds, f"refusal took {elapsed:.1f} s"
    assert grown < mib * 1024, f"refusal grew the peak memory by {grown >> 10} MiB"
    return info.value


@pytest.mark.parametrize("per_level", [10, 3])
def test_string_interpolation_reference_bomb_is_refused_while_it_grows(tmp_path, registries, no_hang, per_level):
    lines = ["blockforge: 1", "a0: " + "x" * 100]
    for i in range(1, 12):
        lines.append(f"a{i}: \"" + f"${{a{i - 1}}}" * per_level + "\"")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    err = _bounded(lambda: load_spec(p, registries=registries))
    (issue,) = err.issues
    assert issue.code == "too_large" and issue.location.source == str(p) and issue.location.line > 2


def test_whole_value_reference_bomb_is_refused(tmp_path, registries, no_hang):
    p = tmp_path / "bomb.yaml"
    p.write_text("blockforge: 1\na0: [" + ",".join(["1"] * 2000) + "]\na1: [" + ",".join(["'${a0}'"] * 2000) + "]\n")
    err = _bounded(lambda: load_spec(p, registries=registries), seconds=10)
    assert err.issues[0].code == "too_large"


def test_references_that_nest_past_the_depth_limit_are_refused(tmp_path, registries):
    lines = ["blockforge: 1", "a0: {x: {y: [1]}}"] + [f"a{i}: {{q: {{r: '${{a{i - 1}}}'}}}}" for i in range(1, 40)]
    p = tmp_path / "deep.yaml"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    assert {i.code for i in info.value.issues} <= {"too_deep", "reference"}


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo", "dir"])
@pytest.mark.parametrize("how", ["direct", "extends"])
def test_special_files_are_refused_without_reading(tmp_path, registries, no_hang, special, how):
    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)  # no writer: reading it would block forever
    elif special == "dir":
        special = str(tmp_path / "sub")
        os.mkdir(special)
    if how == "direct":
        err = _bounded(lambda: load_spec(special, registries=registries), seconds=2, mib=5)
        assert err.issues[0].code in ("not_regular", "is_directory")
        assert ("directory" if special.endswith("sub") else "not a regular file") in err.issues[0].message
    else:
        p = tmp_path / "child.yaml"
        p.write_text(f"extends: {special}\n")
        err = _bounded(lambda: load_spec(p, registries=registries), seconds=2, mib=5)
        (issue,) = err.issues
        assert issue.code == "extends" and issue.location.line == 1
        assert ("directory" if special.endswith("sub") else "not a regular file") in issue.message


def test_a_file_is_never_read_past_the_limit(tmp_path, monkeypatch):
    # st_size can lie (procfs files say 0): the reader stops at the limit plus one byte
    p = tmp_path / "big.yaml"
    p.write_text("a: " + "x" * (2 * MAX_BYTES))
    real_fstat = os.fstat

    class Lying:
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return 0 if name == "st_size" else getattr(self._st, name)

    monkeypatch.setattr(os, "fstat", lambda fd: Lying(real_fstat(fd)))
    reads = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(SpecError) as info:
        load_file(p)
    assert info.value.issues[0].code == "too_large" and sum(reads) <= MAX_BYTES + 1


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_spec_just_under_the_size_limit_is_refused_quickly(fmt, no_hang):
    n = MAX_BYTES // 2 - 100
    text = ("x: [" + ", ".join(["1"] * (n // 2)) + "]") if fmt == "yaml" else json.dumps({"x": [1] * (n // 2)})
    assert len(text) < MAX_BYTES
    err = _bounded(lambda: load_text(text, source="big", fmt=fmt), seconds=3, mib=60)
    assert err.issues[0].code == "too_large" and "alias" not in err.issues[0].message


@pytest.mark.parametrize("value,code", [
    ("!!bool hello", "tag"), ("!!int hello", "tag"), ("!!float hello", "tag"), ("!!null hello", "tag"),
    ("9" * 5000, "too_large"), ("-" + "9" * 5000, "too_large"), ("0x" + "f" * 4000, "too_large"),
    ("0o" + "7" * 3000, "too_large"), ("18446744073709551616", "too_large"),
])
@pytest.mark.parametrize("where", ["yaml", "set"])
def test_tagged_and_huge_scalars_are_located_errors(tmp_path, registries, value, code, where):
    if where == "set":
        with pytest.raises(SpecError) as info:
            load_spec(TINY, registries=registries, overrides=[f"model.seed={value}"])
        source = "--set"
    else:
        p = tmp_path / "s.yaml"
        p.write_text(f"extends: {TINY}\nmodel:\n  init_std: {value}\n")
        with pytest.raises(SpecError) as info:
            load_spec(p, registries=registries)
        source = str(p)
    (issue,) = info.value.issues
    assert issue.code == code and issue.location.source == source
    assert len(str(info.value)) < 1000  # printed, and short


@pytest.mark.parametrize("digits", [5000, 4000, 25])
def test_huge_integers_in_json_are_located_errors(tmp_path, registries, digits):
    p = tmp_path / "s.json"
    p.write_text('{"blockforge": 1,\n "seed": ' + "7" * digits + "}")
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    (issue,) = info.value.issues
    assert issue.code == "too_large" and issue.location.line == 2 and len(str(info.value)) < 1000


def test_the_largest_64_bit_integer_is_read():
    assert load_text("a: 18446744073709551615\nb: -18446744073709551615\n").data == {
        "a": 2**64 - 1, "b": -(2**64 - 1)}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 400, 989, 5000])
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_deep_nesting_is_a_located_error_in_json_and_yaml(depth, fmt, no_hang):
    text = "[" * depth + "]" * depth if fmt == "yaml" else '{"a": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(SpecError) as info:
        load_text(text, source="deep", fmt=fmt)
    assert info.value.issues[0].code == "too_deep" and info.value.issues[0].location.line == 1


def test_a_deep_json_file_is_refused_by_load_spec(tmp_path, registries):
    p = tmp_path / "deep.json"
    p.write_text('{"blockforge": 1, "x": ' + "[" * 600 + "]" * 600 + "}")
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    assert info.value.issues[0].code == "too_deep"


@pytest.mark.parametrize("override", [
    "a." * 400 + "b=1",
    "a" + "[0]" * 400 + "=1",
    "description=" + "[" * 60 + "]" * 60 + "",  # fine alone...
])
def test_long_set_paths_are_refused_not_recursion_errors(registries, override):
    path = override.partition("=")[0]
    deep = override.replace("description=", "model.block.attention.x.y.z=")
    for o in (override, deep) if "description" in override else (override,):
        with pytest.raises(SpecError) as info:
            load_spec(TINY, registries=registries, overrides=[o])
        assert info.value.issues, path


def test_too_many_overrides_are_refused(registries, no_hang):
    err = _bounded(lambda: load_spec(TINY, registries=registries, overrides=[f"x{i}=1" for i in range(5000)]))
    assert err.issues[0].code == "too_large" and err.issues[0].location.source == "--set"


# -- issue 12 item 1: values are read by the YAML 1.2 core schema, in files and in --set ------------

YAML12 = [
    ("1:3", "1:3"), ("010", 10), ("0o10", 8), ("0x10", 16), ("1_000", "1_000"), (".5", 0.5), ("1e3", 1000.0),
    ("1.0e-5", 1e-5), ("-.inf", float("-inf")), ("2001-12-14", "2001-12-14"), ("=", "="), ("0b11", "0b11"),
    ("~", None), ("null", None), ("True", True), ("FALSE", False), ("'no'", "no"), ("!!str 12", "12"),
    ("! 12", "12"), ("!!float 1", 1.0), ("+12", 12), ("1:30:00", "1:30:00"), ("<<", "<<"),
]


@pytest.mark.parametrize("text,value", YAML12)
def test_scalars_follow_the_yaml_1_2_core_schema_in_files_and_set(text, value):
    assert load_text(f"a: {text}\n").data == {"a": value}
    doc = load_document({"a": 0}, overrides=[f"a={text}"])
    assert doc.data == {"a": value} and not doc.issues


def test_plan_at_1_3_is_a_slice_not_layer_63(tmp_path, registries):
    p = tmp_path / "plan.yaml"
    p.write_text(f"extends: {TINY}\nmodel:\n  n_layers: 4\n  plan:\n    overrides:\n"
                 "      - at: 1:3\n        block: {attention: {heads: 2}}\n")
    spec = load_spec(p, registries=registries)
    heads = [layer.attention.heads for layer in spec.model.layers()]
    assert heads == [4, 2, 2, 4]
    spec = load_spec(TINY, registries=registries, overrides=[
        "model.n_layers=4", "model.plan={overrides: [{at: 1:3, block: {attention: {heads: 2}}}]}"])
    assert [layer.attention.heads for layer in spec.model.layers()] == [4, 2, 2, 4]


@pytest.mark.parametrize("word,write", [("no", "false"), ("yes", "true"), ("On", "true"), ("OFF", "false")])
@pytest.mark.parametrize("where", ["yaml", "set"])
def test_yaml_1_1_booleans_are_refused_with_what_to_write(tmp_path, registries, word, write, where):
    if where == "set":
        with pytest.raises(SpecError) as info:
            load_spec(TINY, registries=registries, overrides=[f"model.block.attention.causal={word}"])
    else:
        p = tmp_path / "s.yaml"
        p.write_text(f"extends: {TINY}\nmodel:\n  block:\n    attention: {{causal: {word}}}\n")
        with pytest.raises(SpecError) as info:
            load_spec(p, registries=registries)
    (issue,) = info.value.issues
    assert issue.code == "yaml11_bool" and f"`{write}`" in issue.hint
    assert issue.path == ("model", "block", "attention", "causal")
    if where == "yaml":
        assert (issue.location.line, issue.location.col) == (4, 25)  # the `no` in `{causal: no}`


MOE = """\
blockforge: 1
model:
  type: lm
  vocab_size: 97
  d_model: 32
  n_layers: {layers}
  max_len: 16
  block:
    type: transformer
    attention: {{type: mha, heads: 4}}
    feedforward: {{type: moe, experts: {experts}, top_k: 2, hidden: 32{shared}}}
  plan: {plan}
"""


@pytest.mark.parametrize(("layers", "experts", "shared", "plan", "total"), [
    (1024, 1024, "", "null", 1024 * 1024),  # the issue's: each field within its bound, the product not
    (64, 256, ", shared_hidden: 16", "null", 64 * 257),  # the shared expert counts
    (1024, 64, "", "{variants: {dense: {feedforward: {type: mlp, hidden: 32}}}, pattern: [moe, moe, dense, dense]}",
     512 * 64),  # counted on the resolved layers
])
def test_experts_over_the_model_are_bounded_at_validation(tmp_path, registries, layers, experts, shared, plan, total):
    from blockforge.spec.params import MAX_REPLICAS

    plan = plan.replace("moe, moe", "{}, {}")
    p = tmp_path / "moe.yaml"
    p.write_text(MOE.format(layers=layers, experts=experts, shared=shared, plan=plan))
    error = _bounded(lambda: load_spec(p, registries=registries), seconds=5.0)
    [issue] = [i for i in error.issues if "experts over its layers" in i.message]
    assert issue.path == ("model", "n_layers") and issue.location.line == 6
    assert f"{total:,} experts" in issue.message and f"{MAX_REPLICAS:,}" in issue.hint


def test_experts_up_to_the_bound_validate(tmp_path, registries):
    from blockforge.spec.params import MAX_REPLICAS

    p = tmp_path / "moe.yaml"
    p.write_text(MOE.format(layers=MAX_REPLICAS // 1024, experts=1024, shared="", plan="null"))
    assert load_spec(p, registries=registries).model.n_layers == MAX_REPLICAS // 1024

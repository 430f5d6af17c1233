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

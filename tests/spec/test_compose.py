"""extends, --set overrides and ${references}: merged values keep the location where they are written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from blockforge.errors import SpecError
from blockforge.spec import canonical, load_spec, spec_hash
from blockforge.spec.compose import parse_set_path

BASE = """\
blockforge: 1
name: base
model:
  type: lm
  vocab_size: 50
  d_model: 16
  n_layers: 2
  max_len: 8
  block:
    type: transformer
    norm: rmsnorm
    attention: {type: mha, heads: 2}
    feedforward: {type: mlp, hidden: 32, activation: gelu}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def issues(path, registries, **kw) -> list:
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=registries, **kw)
    return list(info.value.issues)


def test_extends_deep_merges_relative_to_the_file(tmp_path, registries):
    write(tmp_path, "bases/base.yaml", BASE)
    child = write(tmp_path, "child.yaml", """\
        extends: bases/base.yaml
        name: child
        model:
          n_layers: 3
          block:
            attention: {causal: true}
            norm: {$patch: delete}
        """)
    spec = load_spec(child, registries=registries)
    assert spec.name == "child" and spec.model.n_layers == 3 and spec.model.d_model == 16
    assert spec.model.block.attention.heads == 2 and spec.model.block.attention.causal is True
    assert spec.model.block.norm.type == "layernorm"  # deleted -> the default


def test_replace_instead_of_merge(tmp_path, registries):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", """\
        extends: base.yaml
        model:
          block:
            feedforward: {$patch: replace, type: mlp, hidden: 8}
        """)
    ff = load_spec(child, registries=registries).model.block.feedforward
    assert ff.hidden == 8 and ff.activation.type == "relu"  # gelu was not merged in


def test_chain_and_split_give_the_same_hash(tmp_path, registries):
    whole = write(tmp_path, "whole.yaml", BASE)
    write(tmp_path, "a.yaml", "blockforge: 1\nmodel: {type: lm, vocab_size: 50, d_model: 16, n_layers: 2, max_len: 8}\n")
    write(tmp_path, "b.yaml", """\
        extends: a.yaml
        model:
          block: {type: transformer, norm: rmsnorm, attention: {type: mha, heads: 2}}
        """)
    c = write(tmp_path, "c.yaml", """\
        extends: b.yaml
        name: other name
        model: {block: {feedforward: {activation: gelu, hidden: 32, type: mlp}}}
        """)
    assert spec_hash(load_spec(c, registries=registries)) == spec_hash(load_spec(whole, registries=registries))


def test_error_is_located_in_the_file_that_holds_the_value(tmp_path, registries):
    write(tmp_path, "base.yaml", BASE.replace("hidden: 32", "hiden: 32"))
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nmodel:\n  block:\n    attention: {heads: x}\n")
    got = {i.code: i for i in issues(child, registries)}
    assert got["unknown_key"].location.source.endswith("base.yaml")
    assert got["unknown_key"].location.line == 13
    assert got["int_type"].location.source.endswith("child.yaml")
    assert (got["int_type"].location.line, got["int_type"].location.col) == (4, 24)
    write(tmp_path, "base.yaml", BASE)
    (contract,) = issues(child, registries, overrides=["model.block.attention.heads=3"])
    assert contract.code == "contract" and contract.location.text == "model.block.attention.heads=3"


def test_extends_cycle_is_reported_with_its_path(tmp_path, registries):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: c.yaml\n")
    write(tmp_path, "c.yaml", "extends: a.yaml\n")
    (issue,) = issues(tmp_path / "a.yaml", registries)
    assert issue.code == "extends_cycle"
    assert "a.yaml -> b.yaml -> c.yaml -> a.yaml" in issue.message
    assert issue.location.source.endswith("c.yaml") and issue.location.line == 1


def test_missing_base(tmp_path, registries):
    child = write(tmp_path, "child.yaml", "extends: nope.yaml\n")
    (issue,) = issues(child, registries)
    assert "not found" in issue.message and issue.location.line == 1


def test_set_overrides_are_typed_as_yaml(tmp_path, registries):
    path = write(tmp_path, "s.yaml", BASE)
    spec = load_spec(path, registries=registries, overrides=[
        "model.n_layers=4", "model.block.attention={heads: 4, causal: true}", "name='12'",
        "model.block.norm=layernorm"])
    assert spec.model.n_layers == 4 and spec.name == "12"
    assert spec.model.block.attention.heads == 4 and spec.model.block.attention.causal is True
    assert spec.model.block.norm.type == "layernorm"


def test_set_error_names_the_override(tmp_path, registries):
    path = write(tmp_path, "s.yaml", BASE)
    got = issues(path, registries, overrides=["model.block.attention.heads=x", "model.block.atention.heads=2"])
    by_code = {i.code: i for i in got}
    assert by_code["int_type"].location.source == "--set"
    assert by_code["int_type"].location.text == "model.block.attention.heads=x"
    assert by_code["unknown_key"].location.text == "model.block.atention.heads=2"
    assert "attention" in by_code["unknown_key"].hint


@pytest.mark.parametrize("bad", ["model.n_layers", "=3", "model..x=1", "model.n_layers=[1"])
def test_malformed_overrides(tmp_path, registries, bad):
    (issue,) = issues(write(tmp_path, "s.yaml", BASE), registries, overrides=[bad])
    assert issue.location.source == "--set" and issue.location.text == bad


def test_set_path_syntax():
    assert parse_set_path("model.plan.overrides[0].at") == ("model", "plan", "overrides", 0, "at")
    with pytest.raises(ValueError):
        parse_set_path("")


def test_set_into_a_list(tmp_path, registries):
    path = write(tmp_path, "s.yaml", BASE + "  plan:\n    overrides:\n      - {at: 0, block: {dropout: 0.1}}\n")
    spec = load_spec(path, registries=registries, overrides=["model.plan.overrides[0].at=-1"])
    assert [b.dropout for b in spec.model.layers()] == [0.0, 0.1]
    (issue,) = issues(path, registries, overrides=["model.plan.overrides[3].at=1"])
    assert "out of range" in issue.message


def test_references_copy_typed_values_and_interpolate_text(tmp_path, registries):
    path = write(tmp_path, "r.yaml", BASE.replace("hidden: 32", "hidden: '${model.d_model}'").replace(
        "name: base", "name: w${model.d_model}-$${literal}"))
    spec = load_spec(path, registries=registries)
    assert spec.model.block.feedforward.hidden == 16
    assert spec.name == "w16-${literal}"
    assert canonical(spec)["model"]["block"]["feedforward"]["hidden"] == 16


def test_reference_follows_overrides(tmp_path, registries):
    path = write(tmp_path, "r.yaml", BASE.replace("hidden: 32", "hidden: '${model.d_model}'"))
    spec = load_spec(path, registries=registries, overrides=["model.d_model=24"])
    assert spec.model.block.feedforward.hidden == 24


def test_reference_errors_are_located(tmp_path, registries):
    path = write(tmp_path, "r.yaml", BASE.replace("hidden: 32", "hidden: '${model.d_modl}'").replace(
        "heads: 2", "heads: '${model.block.attention.heads}'"))
    got = sorted(issues(path, registries), key=lambda i: i.location.line)
    assert len(got) == 2
    assert "cycle" in got[0].message and got[0].location.line == 12
    assert "no such value" in got[1].message and got[1].location.line == 13
    assert "model.d_model" in got[1].hint


def test_reference_is_not_code(tmp_path, registries):
    path = write(tmp_path, "r.yaml", BASE.replace("hidden: 32", "hidden: '${__import__(\"os\").getcwd()}'"))
    (issue,) = issues(path, registries)
    assert issue.code == "reference"


def test_reference_bomb_is_refused_quickly(tmp_path, registries, no_hang):
    lines = ["blockforge: 1", "x0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"x{i}: ['${{x{i - 1}}}', '${{x{i - 1}}}', '${{x{i - 1}}}', '${{x{i - 1}}}', '${{x{i - 1}}}', "
              f"'${{x{i - 1}}}', '${{x{i - 1}}}', '${{x{i - 1}}}', '${{x{i - 1}}}', '${{x{i - 1}}}']"
              for i in range(1, 10)]
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    got = issues(path, registries)
    assert got[0].code == "too_large"


def test_python_api_build_with_overrides(tmp_path, registries):
    torch = pytest.importorskip("torch")
    from blockforge.build import build_model

    path = write(tmp_path, "s.yaml", BASE)
    model = build_model(path, registries=registries, overrides=["model.n_layers=3"], device="meta")
    assert model.blockforge_spec["model"]["n_layers"] == 3
    assert isinstance(next(model.parameters()), torch.Tensor)


def test_set_error_rendering_puts_the_caret_under_the_override(tmp_path, registries):
    from rich.console import Console

    from blockforge.diagnostics import issue_text

    path = write(tmp_path, "s.yaml", BASE)
    (issue,) = issues(path, registries, overrides=["model.block.attention.heads=abc"])
    console = Console(width=200, record=True, color_system=None)
    console.print(issue_text(issue))
    lines = console.export_text().splitlines()
    src = next(i for i, line in enumerate(lines) if line.endswith("--set model.block.attention.heads=abc"))
    caret = lines[src + 1]
    assert caret.index("^") == lines[src].index("abc") and caret.count("^") == 3


def test_override_reference_and_validation_errors_in_one_report(tmp_path, registries):
    path = write(tmp_path, "s.yaml", BASE.replace("hidden: 32", "hidden: '${model.d_modl}'").replace(
        "vocab_size: 50", "vocab_size: fifty"))
    got = issues(path, registries, overrides=["model.n_layers", "model.block.attention.heads=x"])
    codes = sorted(i.code for i in got)
    assert codes == ["int_type", "int_type", "reference", "set"]
    # the unresolved reference is reported once, as a reference error, not again as a type error
    assert [i.path for i in got if i.code == "reference"] == [("model", "block", "feedforward", "hidden")]
    assert not any(i.path == ("model", "block", "feedforward", "hidden") and i.code != "reference" for i in got)


# --- a bare name is {type: name} when merging too (issue 12, item 4) ------------------------------------------

def test_extends_patches_a_bare_name_component(tmp_path, registries):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nmodel:\n  block:\n    norm: {eps: 1.0e-6}\n")
    spec = load_spec(child, registries=registries)
    assert (spec.model.block.norm.type, spec.model.block.norm.eps) == ("rmsnorm", 1e-6)
    direct = write(tmp_path, "direct.yaml", BASE.replace("norm: rmsnorm", "norm: {type: rmsnorm, eps: 1.0e-6}"))
    assert spec_hash(spec) == spec_hash(load_spec(direct, registries=registries))


def test_set_patches_a_bare_name_component_and_errors_point_at_the_set(tmp_path, registries):
    base = write(tmp_path, "base.yaml", BASE)
    spec = load_spec(base, registries=registries, overrides=["model.block.norm.eps=1.0e-6",
                                                             "model.block.feedforward.activation.approximate=tanh"])
    assert (spec.model.block.norm.type, spec.model.block.norm.eps) == ("rmsnorm", 1e-6)
    assert spec.model.block.feedforward.activation.approximate == "tanh"
    [issue] = issues(base, registries, overrides=["model.block.norm.epz=0.1"])
    assert issue.code == "unknown_key" and issue.path == ("model", "block", "norm", "epz")
    assert issue.location.source == "--set"


def test_patches_of_defaulted_and_omitted_components(tmp_path, registries):
    """The component a spec leaves at its default is patched like one it writes: `{type: default}` expanded."""
    write(tmp_path, "base.yaml", BASE.replace("    norm: rmsnorm\n", ""))
    child = write(tmp_path, "child.yaml", """\
        extends: base.yaml
        model:
          positional: {base: 500.0}
          block:
            norm: {eps: 1.0e-6}
        """)
    spec = load_spec(child, registries=registries, overrides=["model.head.tied=true"])
    assert (spec.model.block.norm.type, spec.model.block.norm.eps) == ("layernorm", 1e-6)
    assert (spec.model.positional.type, spec.model.positional.base) == ("sinusoidal", 500.0)
    assert (spec.model.head.type, spec.model.head.tied) == ("lm", True)
    # an error in such a patch is located where it is written, with the component's keys as the hint
    bad = write(tmp_path, "bad.yaml", "extends: base.yaml\nmodel:\n  block:\n    norm: {epz: 0.1}\n")
    [issue] = issues(bad, registries)
    assert issue.code == "unknown_key" and issue.path == ("model", "block", "norm", "epz")
    assert issue.location.source.endswith("bad.yaml") and issue.location.line == 4
    assert "eps" in issue.hint
    # a field whose default is no component has nothing to patch: the mapping needs its type, said in the child
    bad = write(tmp_path, "bad2.yaml", "extends: base.yaml\nmodel:\n  final_norm: {eps: 0.1}\n")
    [issue] = issues(bad, registries)
    assert issue.code == "missing_type" and issue.location.source.endswith("bad2.yaml")


def test_an_index_into_a_missing_list_says_the_list_does_not_exist(tmp_path, registries):
    base = write(tmp_path, "base.yaml", BASE)
    [issue] = issues(base, registries, overrides=["model.plan.overrides[0].at=1"])
    assert issue.code == "set" and issue.location.source == "--set"
    assert "model.plan.overrides does not exist" in issue.message
    [issue] = issues(base, registries, overrides=["model.block.norm[0]=1"])
    assert "model.block.norm is a string, not a list" in issue.message


def test_a_reference_through_a_bare_name(tmp_path, registries):
    path = write(tmp_path, "spec.yaml", BASE.replace("name: base", 'name: "n-${model.block.norm.type}"'))
    assert load_spec(path, registries=registries).name == "n-rmsnorm"
    path = write(tmp_path, "spec.yaml", BASE.replace("name: base", 'name: "n-${model.block.norm.eps}"'))
    [issue] = issues(path, registries)
    assert issue.code == "reference" and "model.block.norm is the bare name 'rmsnorm'" in issue.message

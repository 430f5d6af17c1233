"""plan, resolve, diff, schema and --set from the command line."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.cli.helpers import invoke
from tests.conftest import SPECS_DIR

TINY = str(SPECS_DIR / "tiny.yaml")
PLAN = str(SPECS_DIR / "tiny-plan.yaml")


def test_plan_shows_every_layer():
    r = invoke("plan", PLAN, "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["layers"]
    assert [row["layer"] for row in rows] == list(range(6))
    assert [row["block"]["attention"]["heads"] for row in rows] == [2, 2, 4, 2, 2, 4]
    assert rows[5]["from"] == ["block", "plan.variants.wide", "plan.overrides[0].block"]
    assert "norm_position=\"post\"" in rows[5]["changes"]
    text = invoke("plan", PLAN)
    assert text.exit_code == 0 and "plan.variants.narrow" in text.output


@pytest.mark.parametrize("command", ["validate", "summary", "plan", "resolve"])
def test_set_on_every_spec_command(command):
    r = invoke(command, TINY, "--set", "model.block.attention.heads=3")
    assert r.exit_code == 1, r.output
    assert "not divisible by heads=3" in r.output and "--set (model.block.attention.heads=3)" in r.output
    ok = invoke(command, TINY, "--set", "model.n_layers=3", "-s", "name=renamed")
    assert ok.exit_code == 0, ok.output


def test_set_on_build(tmp_path):
    r = invoke("build", TINY, "--set", "model.n_layers=1", "--seq-len", "4")
    assert r.exit_code == 0, r.output


def test_validate_json_locates_a_set_error():
    r = invoke("validate", TINY, "--format", "json", "--set", "model.block.atention.heads=2")
    assert r.exit_code == 1
    (spec,) = json.loads(r.output)["specs"]
    (error,) = spec["errors"]
    assert error["file"] == "--set" and error["code"] == "unknown_key" and "attention" in error["hint"]


def test_resolve_round_trip_same_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    from blockforge.build import build_model

    for spec in (TINY, PLAN):
        r = invoke("resolve", spec)
        assert r.exit_code == 0, r.output
        resolved = tmp_path / "resolved.yaml"
        resolved.write_text(r.output)
        assert yaml.safe_load(r.output)["model"]["n_layers"] > 0
        a = build_model(spec, seed=3).state_dict()
        b = build_model(resolved, seed=3).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
        again = invoke("resolve", str(resolved))
        assert again.output == r.output  # a fixed point
        assert build_model(resolved, device="meta").blockforge_hash == build_model(spec, device="meta").blockforge_hash


def test_resolve_json():
    r = invoke("resolve", TINY, "--format", "json")
    data = json.loads(r.output)
    assert data["model"]["block"]["norm"]["type"] == "layernorm"  # defaults filled


def test_diff_reports_changes_and_parameter_delta(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text((SPECS_DIR / "tiny.yaml").read_text().replace("hidden: 64", "hidden: 128"))
    r = invoke("diff", TINY, str(other), "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    paths = {d["path"]: d for d in data["differences"]}
    assert paths["model.layers[0].feedforward.hidden"] == {"path": "model.layers[0].feedforward.hidden", "a": 64, "b": 128}
    assert set(paths) == {"model.layers[0].feedforward.hidden", "model.layers[1].feedforward.hidden"}
    # two layers, each with 2 * 32 * 64 more weights and 64 more biases
    assert data["params"]["change"] == 2 * (2 * 32 * 64 + 64)
    assert data["same_architecture"] is False
    same = json.loads(invoke("diff", TINY, TINY, "--format", "json").output)
    assert same["differences"] == [] and same["params"]["change"] == 0 and same["same_architecture"] is True
    text = invoke("diff", TINY, str(other))
    assert "64 -> 128" in text.output and "+8,320" in text.output


def test_diff_of_one_spec_with_overrides_per_side():
    r = invoke("diff", TINY, TINY, "--set", "model.vocab_size=100", "--set-b", "model.n_layers=4",
               "--set-a", "model.block.feedforward.hidden=32", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    rows = {d["path"]: d for d in data["differences"]}
    # the common --set reached both sides, so vocab_size is no difference
    assert "model.vocab_size" not in rows
    assert rows["model.n_layers"] == {"path": "model.n_layers", "a": 2, "b": 4}
    assert rows["model.layers[0].feedforward.hidden"] == {
        "path": "model.layers[0].feedforward.hidden", "a": 32, "b": 64}
    # an added layer is one row holding the whole layer, not one row per field
    assert rows["model.layers[2]"]["b"]["feedforward"]["hidden"] == 64 and "a" not in rows["model.layers[2]"]
    assert not any(p.startswith("model.layers[2].") for p in rows)


def test_diff_text_groups_layers_that_differ_alike():
    r = invoke("diff", TINY, TINY, "--set-b", "model.n_layers=5", "--set-b", "model.block.attention.heads=8")
    assert r.exit_code == 0, r.output
    assert "model.layers[0:2].attention.heads: 4 -> 8" in r.output
    assert "model.layers[2:5]: (absent) -> {" in r.output


def test_diff_override_errors_name_the_side():
    r = invoke("diff", TINY, TINY, "--set-b", "model.n_layrs=4")
    assert r.exit_code == 1
    assert "--set" in r.output and "did you mean 'n_layers'" in r.output and "Traceback" not in r.output


def test_layer_runs_are_written_as_spec_slices():
    from blockforge.cli.diff import grouped_rows

    rows = [{"path": f"model.layers[{i}].attention.window", "a": 4096, "b": None} for i in (0, 2, 4, 6)]
    rows += [{"path": f"model.layers[{i}].norm.eps", "a": 1e-6, "b": 1e-5} for i in (0, 1, 2, 7)]
    rows += [{"path": f"model.layers[{i}].dropout", "a": 0.1, "b": 0.0} for i in (1, 9)]
    paths = [r["path"] for r in grouped_rows(rows)]
    # every layer that differs alike is in one row (issue 17), its runs written as the spec's slices
    assert paths == ["model.layers[0:7:2].attention.window", "model.layers[0:3,7].norm.eps",
                     "model.layers[1,9].dropout"]


def test_schema_command_writes_valid_json(tmp_path):
    out = tmp_path / "schema.json"
    r = invoke("schema", "-o", str(out))
    assert r.exit_code == 0, r.output
    schema = json.loads(out.read_text())
    assert schema["$schema"].endswith("2020-12/schema")
    assert json.loads(invoke("schema").output) == schema


def test_diff_a_changed_mixer_is_one_line_and_alike_layers_one_row():
    # issue 17: mha -> lstm printed a dozen lines per layer
    r = invoke("diff", str(SPECS_DIR / "tiny.yaml"), str(SPECS_DIR / "tiny.yaml"), "--set-b", "model.block.attention=lstm",
            "--no-params")
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 0 and len(lines) == 1, r.output
    assert lines[0].startswith("model.layers[0:2].attention: mha {") and "-> lstm {" in lines[0]
    r = invoke("diff", str(SPECS_DIR / "tiny-gemma2.yaml"), str(SPECS_DIR / "tiny-gemma2.yaml"), "--no-params",
            "--set-b", "model.plan.variants.local.attention.window=8")
    assert r.output.strip() == "model.layers[0,2].attention.window: 4 -> 8"


def test_plan_has_a_mixer_column_and_groups_alike_layers():
    r = invoke("plan", str(SPECS_DIR / "hybrid-lstm-attention.yaml"))
    assert r.exit_code == 0, r.output
    rows = [line for line in r.output.splitlines() if "│" in line and line.split("│")[1].strip()]
    assert "mixer" in r.output and len(rows) == 2  # 8 layers: the LSTM layers and the attention layers
    assert "0, 1, 2, 4, 5, 6" in rows[0] and "lstm" in rows[0] and "attention: mha" in rows[0]
    assert "3, 7" in rows[1] and " mha " in rows[1]

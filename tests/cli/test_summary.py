"""``blockforge summary`` renderings and ``blockforge compare``."""

from __future__ import annotations

import json


from blockforge.cli import app
from blockforge.inspect import summarize
from tests.cli.helpers import invoke, runner
from tests.conftest import SPECS_DIR

TINY = str(SPECS_DIR / "tiny.yaml")
GPT2 = str(SPECS_DIR / "gpt2-small.yaml")


def test_text_shows_flops_memory_kinds_and_conventions():
    r = invoke("summary", TINY)
    assert r.exit_code == 0, r.output
    for text in ("fwd FLOPs", "by kind", "feedforward", "forward + backward FLOPs", "MACs",
                 "KV cache per token", "training: AdamW state", "discounted"):
        assert text in r.output, text
    assert "20,768" in r.output


def test_tree_view_respects_depth():
    r = invoke("summary", TINY, "--view", "tree", "--depth", "2")
    assert r.exit_code == 0, r.output
    assert "├──" in r.output and "TransformerBlock" in r.output
    assert "MultiHeadAttention" not in r.output  # depth 3
    deeper = invoke("summary", TINY, "--view", "tree", "--depth", "3")
    assert "MultiHeadAttention" in deeper.output


def test_json_equals_the_python_api():
    r = invoke("summary", TINY, "--format", "json", "--batch", "2", "--seq-len", "8", "--depth", "9")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == json.loads(json.dumps(summarize(TINY, batch=2, seq_len=8).to_dict()))


def test_markdown():
    r = invoke("summary", TINY, "--format", "markdown", "--depth", "1")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "## tiny"
    assert "| module | type | kind | output shape | params | fwd FLOPs |" in lines
    assert "### By kind" in lines and "### Conventions" in lines
    assert not any("attn_norm" in line for line in lines)  # depth 1


def test_compare_side_by_side():
    r = invoke("compare", TINY, GPT2)
    assert r.exit_code == 0, r.output
    for text in ("parameters", "fwd FLOPs / token", "KV cache / token", "training memory", "tiny",
                 "gpt2-small", "124,439,808", "(1, 16)"):
        assert text in r.output, text


def test_compare_json_and_markdown():
    r = invoke("compare", TINY, GPT2, "--seq-len", "8", "--batch", "2", "-f", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["input_shape"] == [2, 8]
    tiny, gpt2 = data["models"]
    assert tiny["spec"] == TINY and gpt2["total_params"] == 124_439_808
    assert gpt2["flops"]["forward_per_token"] > tiny["flops"]["forward_per_token"]
    md = invoke("compare", TINY, GPT2, "-f", "markdown")
    assert md.exit_code == 0 and "| parameters | 20,768 | 124,439,808 |" in md.output


def test_compare_set_applies_to_every_spec():
    base = json.loads(invoke("compare", TINY, GPT2, "--seq-len", "8", "-f", "json").output)
    r = invoke("compare", TINY, GPT2, "--seq-len", "8", "-f", "json", "--set", "model.n_layers=1")
    assert r.exit_code == 0, r.output
    one = json.loads(r.output)
    for before, after, layers in zip(base["models"], one["models"], (2, 12), strict=True):
        assert after["total_params"] < before["total_params"]
        # dropping to one layer removes (layers - 1) identical blocks' worth of parameters
        per_block = (before["total_params"] - after["total_params"]) / (layers - 1)
        assert per_block == int(per_block)


def test_compare_needs_two_specs():
    assert runner.invoke(app, ["compare", TINY]).exit_code == 2


def test_compare_seq_len_beyond_a_max_len_is_a_user_error():
    r = invoke("compare", TINY, GPT2, "--seq-len", "64")
    assert r.exit_code == 1
    assert "exceeds the model's max_len=16" in r.output and "tiny.yaml" in r.output
    assert "Traceback" not in r.output


def test_error_lines_are_never_broken_by_the_console_width(fixed_console_width):
    from blockforge.cli import _app

    _app.err.width = 30  # far narrower than the message and its path
    r = invoke("compare", TINY, GPT2, "--seq-len", "64")
    assert r.exit_code == 1
    line = next(ln for ln in r.output.splitlines() if ln.startswith("error"))
    assert TINY in line and line.endswith("exceeds the model's max_len=16"), r.output


def test_compare_invalid_spec_is_located(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(TINY).read().replace("heads: 4", "heads: 5"))
    r = invoke("compare", TINY, str(bad))
    assert r.exit_code == 1
    assert f"{bad}:" in r.output and "not divisible by heads=5" in r.output


def test_build_reports_progress_per_block():
    import blockforge

    seen: list[tuple[int, int]] = []
    blockforge.build_model(TINY, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    blockforge.build_model(TINY, device="meta", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]  # nothing to initialise on meta


def test_build_cli_with_progress_bar():
    r = invoke("build", TINY, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "built tiny" in r.output


def test_identical_layers_collapse_and_type_names_stay_whole_at_80_columns():
    # issue 17: `summary specs/llama3-8b.yaml` printed 401 lines
    from blockforge.cli import _app

    _app.out.width = 80
    r = invoke("summary", str(SPECS_DIR / "llama3-8b.yaml"), "--seq-len", "8", "--dtype", "bf16")
    assert r.exit_code == 0, r.output
    assert " 0–31 × 32 " in r.output and "Identity" not in r.output
    assert len(r.output.splitlines()) < 60
    assert "parameter bytes (bfloat16)" in r.output and "16,060,522,496" in r.output  # 2 bytes a parameter
    for name in ("MultiHeadAttention", "TransformerBlock", "TransformerLM"):
        assert name in r.output  # never folded across lines
    assert max(len(line) for line in r.output.splitlines()) <= 80
    expanded = invoke("summary", str(SPECS_DIR / "llama3-8b.yaml"), "--seq-len", "8", "--expand", "--depth", "2")
    assert " 31 " in expanded.output and "×" not in expanded.output


def test_layers_that_differ_in_the_plan_are_not_collapsed_together():
    # tiny-gemma2's local (window 4) and global layers measure alike on the probe but are different blocks
    r = invoke("summary", str(SPECS_DIR / "tiny-gemma2.yaml"))
    assert r.exit_code == 0, r.output
    assert " 0, 2 × 2 " in r.output and " 1, 3 × 2 " in r.output


def test_compare_labels_clashing_names_by_file_and_sweeps(tmp_path):
    copy = tmp_path / "tiny.yaml"
    copy.write_text((SPECS_DIR / "tiny.yaml").read_text())
    r = invoke("compare", TINY, str(copy), "--format", "json")
    labels = [m["label"] for m in json.loads(r.output)["models"]]
    assert labels == [f"tiny ({TINY})", f"tiny ({copy})"]  # same name and same stem: whole paths
    r = invoke("compare", TINY, "--sweep", "model.n_layers=1,2,4", "--format", "json")
    models = json.loads(r.output)["models"]
    assert [m["label"] for m in models] == ["tiny [n_layers=1]", "tiny [n_layers=2]", "tiny [n_layers=4]"]
    params = [m["total_params"] for m in models]
    assert params[2] - params[1] == 2 * (params[1] - params[0]) > 0  # each layer adds the same parameters
    text = invoke("compare", TINY, "--sweep", "model.n_layers=1,2")
    assert text.exit_code == 0 and "tiny [n_layers=2]" in text.output
    assert invoke("compare", TINY).exit_code == 2  # one spec and no sweep: nothing to compare

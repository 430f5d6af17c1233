"""The command line: exit codes, outputs, no tracebacks, and no torch on the validate path."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from blockforge.cli import app
from tests.cli.helpers import invoke, runner
from tests.conftest import SPECS_DIR

TINY = str(SPECS_DIR / "tiny.yaml")


def test_validate_ok():
    r = invoke("validate", TINY, str(SPECS_DIR / "seed.yaml"))
    assert r.exit_code == 0, r.output
    assert "ok" in r.output and "seed-transformer" in r.output


def test_validate_default_spec():
    assert invoke("validate").exit_code == 0


BAD = {
    "unknown_key": ("heads: 4,", "heads: 4, casual: true,", "unknown key 'casual'"),
    "misspelt_component": ("activation: {type: gelu", "activation: {type: gelo", "unknown activation component 'gelo'"),
    "wrong_type": ("hidden: 64", "hidden: sixty", "valid integer"),
    "not_divisible": ("heads: 4", "heads: 5", "not divisible by heads=5"),
    "zero_size": ("n_layers: 2", "n_layers: 0", "greater than 0"),
    "negative_size": ("d_model: 32", "d_model: -32", "greater than 0"),
    "malformed_yaml": ("causal: true}", "causal: true", "an unclosed { or ["),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_specs_exit_1_with_a_located_error(tmp_path, case):
    old, new, message = BAD[case]
    text = (SPECS_DIR / "tiny.yaml").read_text()
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new))
    for command in ("validate", "summary", "build"):
        r = invoke(command, str(bad))
        assert r.exit_code == 1, (command, r.output)
        assert message in r.output
        assert f"{bad}:" in r.output  # file:line:col
        assert "Traceback" not in r.output


def test_validate_json_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((SPECS_DIR / "tiny.yaml").read_text().replace("heads: 4", "heads: 5"))
    r = invoke("validate", str(bad), "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    (err,) = data["specs"][0]["errors"]
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "heads: 5" in text)
    assert err["path"] == "model.block.attention.heads" and err["line"] == line


def test_missing_file_is_exit_1_not_traceback(tmp_path):
    r = invoke("summary", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 1 and "file not found" in r.output


def test_usage_error_is_exit_2():
    assert runner.invoke(app, ["summary", "--depth", "-3"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
    assert runner.invoke(app, ["build", TINY, "--dtype", "int7"]).exit_code == 2


def test_summary_of_the_default_spec():
    r = invoke("summary")
    assert r.exit_code == 0
    assert "50,199,354" in r.output
    assert "TransformerBlock" in r.output and "(1, 100, 30522)" in r.output


def test_summary_json_and_depth():
    r = invoke("summary", TINY, "--format", "json", "--depth", "1")
    data = json.loads(r.stdout)
    assert data["total_params"] == 20768
    assert max(m["depth"] for m in data["modules"]) == 1
    assert data["bytes_by_dtype"] == {"float32": 4 * 20768}


def test_summary_seq_len_beyond_max_len():
    r = invoke("summary", TINY, "--seq-len", "999")
    assert r.exit_code == 1 and "exceeds" in r.output


def test_build_runs_a_forward_and_writes_a_model_directory(tmp_path):
    out = tmp_path / "lm"
    r = invoke("build", TINY, "--seq-len", "5", "-o", str(out), "--repeats", "3")
    assert r.exit_code == 0, r.output
    assert "(2, 5) -> (2, 5, 97)" in r.output and "20,768 parameters" in r.output
    # the first call (one-time set-up) and the steady state are reported apart
    assert re.search(r"first call \d+\.\d ms, then \d+\.\d ms \(steady state: median of 3\)", r.output), r.output
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), framework="pt") as fh:  # a real safetensors file
        assert "blocks.0.attention.qkv.weight" in fh.keys()  # noqa: SIM118
    assert (out / "spec.yaml").is_file()
    assert not list(out.glob(".*tmp"))  # no half-written leftovers


def test_build_seq_len_beyond_max_len_is_a_user_error():
    r = invoke("build", TINY, "--seq-len", "17")
    assert r.exit_code == 1 and "exceeds max_len=16" in r.output


def test_components_lists_every_kind_with_params():
    r = invoke("components")
    assert r.exit_code == 0
    for name in ("mha", "relu", "leaky_relu", "layernorm", "rmsnorm", "sinusoidal", "transformer", "lm"):
        assert name in r.output
    data = json.loads(invoke("components", "activation", "--format", "json").stdout)
    (leaky,) = [c for c in data["activation"] if c["name"] == "leaky_relu"]
    assert leaky["owner"] == "builtins"
    assert leaky["params"][0]["name"] == "negative_slope" and leaky["params"][0]["default"] == 0.01


def test_components_unknown_kind():
    r = invoke("components", "normz")
    assert r.exit_code == 1 and "unknown kind" in r.output


def _modules_after(args: list[str]) -> str:
    code = (
        "import sys\n"
        "from blockforge.cli import app\n"
        "try:\n"
        f"    app({args!r}, prog_name='blockforge')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["validate", TINY],
        ["validate"],
        ["validate", TINY, "--set", "model.n_layers=3"],
        ["components"],
        ["plan", TINY],
        ["resolve", TINY],
        ["schema"],
    ],
)
def test_light_commands_never_import_torch(args):
    out = _modules_after(args)
    assert out.strip().endswith("NO-TORCH"), out[-500:]


def test_the_torch_check_can_fail():
    assert _modules_after(["summary", TINY]).strip().endswith("TORCH")


def test_console_script_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("blockforge: 1\nmodel: {type: lmm}\n")
    exe = [sys.executable, "-c", "from blockforge.cli import main; main()", "validate", str(bad)]
    r = subprocess.run(exe, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "unknown model component 'lmm'" in r.stderr and "Traceback" not in r.stderr


def test_build_output_into_a_missing_folder_is_refused_before_building(tmp_path):
    r = invoke("build", TINY, "-o", str(tmp_path / "nodir" / "lm"))
    assert r.exit_code == 1
    assert "cannot write" in r.output and "does not exist" in r.output
    assert "built" not in r.output  # refused before the build and the forward, not after


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "foo"], "'foo' is not a device"),
    (["--device", "meta", "-o", "w.pt"], "meta tensors hold no data"),
])
def test_build_bad_device_or_meta_output_is_a_usage_error(args, message):
    r = invoke("build", TINY, *args)
    assert r.exit_code == 2 and message in r.output, r.output


def test_build_on_a_device_the_machine_lacks_is_a_usage_error():
    import torch

    if torch.cuda.is_available():  # then ask for one more GPU than there is
        device, message = f"cuda:{torch.cuda.device_count()}", "device(s)"
    else:
        device, message = "cuda", "not available on this machine"
    r = invoke("build", TINY, "--device", device)
    assert r.exit_code == 2 and message in r.output, r.output


def test_schema_output_into_a_missing_folder_is_a_user_error(tmp_path):
    r = invoke("schema", "-o", str(tmp_path / "nodir" / "s.json"))
    assert r.exit_code == 1 and "does not exist" in r.output and "Traceback" not in r.output


def test_console_script_reports_file_system_errors_as_errors_not_bugs(tmp_path):
    (tmp_path / "afile").write_text("")
    exe = [sys.executable, "-c", "from blockforge.cli import main; main()", "new-plugin", "ok",
           "-d", str(tmp_path / "afile" / "sub")]
    r = subprocess.run(exe, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "error: File exists" in r.stderr and "afile" in r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr

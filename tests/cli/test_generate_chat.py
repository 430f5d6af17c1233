"""``blockforge generate`` and ``blockforge chat`` on a tiny model directory with a byte-level tokenizer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from blockforge.build import build_model
from blockforge.generation import generate
from blockforge.modeldir import ChatTemplate, GenerationConfig, save_model
from blockforge.cli import app
from tests.cli.helpers import invoke, runner
from tests.modeldir.tiny_tokenizer import VOCAB, byte_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm")
    model = build_model("specs/tiny.yaml", overrides=[f"model.vocab_size={VOCAB}", "model.max_len=48"], seed=0)
    save_model(model, path, tokenizer=byte_tokenizer(), generation=GenerationConfig(
        max_new_tokens=6, chat_template=ChatTemplate(user="<|user|>", assistant="<|assistant|>", end="<|end|>")))
    return path


def test_generate_ids_streams_the_greedy_continuation(model_dir):
    r = invoke("generate", str(model_dir), "--ids", "5,6,7", "--max-new-tokens", "5")
    assert r.exit_code == 0, r.output
    from blockforge.modeldir import load_model

    want = generate(load_model(model_dir), torch.tensor([[5, 6, 7]]), max_new_tokens=5)[0, 3:].tolist()
    assert r.output.split() == [str(i) for i in want]


def test_generate_prompt_decodes_text(model_dir):
    r = invoke("generate", str(model_dir), "--prompt", "hello", "--sample", "--seed", "3")
    assert r.exit_code == 0, r.output
    again = invoke("generate", str(model_dir), "--prompt", "hello", "--sample", "--seed", "3")
    assert r.output == again.output and r.output.endswith("\n")


@pytest.mark.parametrize(("args", "code", "message"), [
    ([], 2, "exactly one of --prompt"),
    (["--prompt", "a", "--ids", "1"], 2, "exactly one of --prompt"),
    (["--ids", "1,x"], 2, "not a list of token ids"),
    (["--ids", "1,999"], 1, "outside the vocabulary"),
    (["--ids", "1", "--max-new-tokens", "60"], 1, "exceed max_len=48"),
    (["--ids", "1", "--temperature", "0", "--sample"], 1, "temperature=0.0"),
])
def test_generate_bad_input_is_a_clear_error(model_dir, args, code, message):
    r = invoke("generate", str(model_dir), *args)
    assert r.exit_code == code and message in r.output, r.output


def test_generate_prompt_without_tokenizer_says_to_use_ids(tmp_path):
    save_model(build_model("specs/tiny.yaml"), tmp_path)
    r = invoke("generate", str(tmp_path), "--prompt", "hi")
    assert r.exit_code == 1 and "no tokenizer.json" in r.output and "--ids" in r.output


def test_chat_keeps_history_within_max_len(model_dir):
    r = runner.invoke(app, ["chat", str(model_dir)], input="hello there\nsecond message here\nthird one now\n/exit\n",
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.output.count("model> ") == 3
    assert "history trimmed to fit max_len=48" in r.output  # the template and 3 turns exceed 48 bytes


def test_chat_refuses_a_directory_without_tokenizer(tmp_path):
    save_model(build_model("specs/tiny.yaml"), tmp_path)
    r = runner.invoke(app, ["chat", str(tmp_path)], input="hi\n", catch_exceptions=False)
    assert r.exit_code == 1 and "chat needs one" in r.output


@pytest.mark.slow
def test_chat_subprocess_survives_ctrl_c(model_dir):
    """A real terminal session: a message from stdin gets a reply; Ctrl-C at the prompt ends it cleanly."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from blockforge.cli import main; main()", "chat", str(model_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdin.write(b"hello\n")
    proc.stdin.flush()
    seen = b""
    deadline = time.monotonic() + 60
    while seen.count(b"you> ") < 2 and time.monotonic() < deadline:  # the reply, then the next prompt
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert b"model> " in seen and seen.count(b"you> ") == 2, seen
    proc.send_signal(signal.SIGINT)
    out, errs = proc.communicate(timeout=30)
    assert proc.returncode == 0, (proc.returncode, errs)
    assert b"Traceback" not in errs

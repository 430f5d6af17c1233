"""Masked-LM and classification runs end to end, bfloat16 autocast, activation checkpointing, Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from blockforge.train import train
from tests.train.conftest import TINY_TRAIN

ENCODER = {"type": "encoder", "d_model": 32, "n_layers": 2, "max_len": 16, "positional": "learned",
           "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2},
                     "feedforward": {"type": "mlp", "hidden": 64}}, "final_norm": "layernorm"}


@pytest.fixture(scope="module")
def wordpiece(corpus, tmp_path_factory):
    from blockforge.data.tokenizer import train_tokenizer
    from blockforge.spec.training import TokenizerSpec

    texts = [p.read_text() for p in sorted(corpus.iterdir())]
    tok = train_tokenizer(TokenizerSpec(type="wordpiece", min_frequency=1), texts, vocab_size=200)
    path = tmp_path_factory.mktemp("wp") / "tokenizer.json"
    tok.save(str(path))
    return path, tok.get_vocab_size()


def test_masked_lm_trains_an_encoder(tmp_path, corpus, wordpiece):
    path, vocab = wordpiece
    spec = {"blockforge": 1, "model": {**ENCODER, "vocab_size": vocab, "head": {"type": "lm", "tied": True}},
            "training": {"loss": "masked_lm", "optimizer": {"type": "adamw", "lr": 3.0e-3}, "batch_size": 8,
                         "seq_len": 16, "steps": 30, "eval_every": 30},
            "data": {"sources": [{"format": "text", "path": str(corpus)}],
                     "tokenizer": {"type": "file", "path": str(path)}, "validation": 0.1}}
    result = train(spec, out=tmp_path / "run")
    first, last = result.records[0], result.records[-1]
    assert abs(first["loss"] - math.log(vocab)) < 1.0
    assert last["loss"] < first["loss"] - 1.0 and math.isfinite(last["val_loss"])


def test_classification_trains_on_labelled_jsonl(tmp_path, tokenizer_file):
    rows = [{"text": ("the cat sat on the mat " if i % 2 else "a red car ran on the road ") * 2, "label": i % 2}
            for i in range(40)]
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    spec = {"blockforge": 1,
            "model": {**ENCODER, "vocab_size": 320, "head": {"type": "classifier", "classes": 2, "pooling": "mean"}},
            "training": {"loss": "classification", "optimizer": {"type": "adamw", "lr": 3.0e-3}, "batch_size": 8,
                         "seq_len": 16, "steps": 25},
            "data": {"sources": [{"format": "jsonl", "path": str(data)}],
                     "tokenizer": {"type": "file", "path": str(tokenizer_file)}, "validation": 0.1}}
    result = train(spec, out=tmp_path / "run")
    assert abs(result.records[0]["loss"] - math.log(2)) < 0.5
    assert result.records[-1]["loss"] < 0.1 and result.records[-1]["val_loss"] < 0.1


def test_bfloat16_autocast_step_is_close_to_float32(tmp_path, corpus, tiny_overrides):
    runs = {p: train(TINY_TRAIN, out=tmp_path / p, data=[str(corpus)], steps=1,
                     overrides=[*tiny_overrides, f"training.precision={p}"]) for p in ("float32", "bfloat16")}
    assert runs["bfloat16"].records[0]["loss"] == pytest.approx(runs["float32"].records[0]["loss"], abs=0.05)


def test_activation_checkpointing_gives_the_same_weights(tmp_path, corpus, tiny_overrides):
    from safetensors.torch import load_file

    for flag in ("false", "true"):
        train(TINY_TRAIN, out=tmp_path / flag, data=[str(corpus)], steps=2,
              overrides=[*tiny_overrides, f"training.activation_checkpointing={flag}"])
    a, b = (load_file(str(tmp_path / f / "model.safetensors")) for f in ("false", "true"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_ctrl_c_writes_a_checkpoint_and_exits_130(tmp_path, corpus, tokenizer_file):
    run = tmp_path / "run"
    cmd = [sys.executable, "-c", "import sys; sys.argv[0] = 'blockforge'; from blockforge.cli import main; main()", "train", str(TINY_TRAIN), "--out", str(run), "--data", str(corpus),
           "--steps", "100000", "--set", f"data.tokenizer={{type: file, path: '{tokenizer_file}'}}",
           "--set", "training.log_every=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (
            (run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    state = json.loads((run / "state" / "trainer.json").read_text())
    assert state["step"] >= 2 and (run / "checkpoints" / f"step-{state['step']:08d}").is_dir()
    assert "interrupted" in err and "--resume" in err

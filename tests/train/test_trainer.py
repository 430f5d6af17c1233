"""The training loop on specs/tiny-train.yaml (CPU, fixed seed): the first loss, overfitting, gradient
accumulation, bitwise resume in a fresh process, the run directory, and refused objective/model pairs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from blockforge.errors import SpecError
from blockforge.train import train
from tests.train.conftest import TINY_TRAIN

V = 320


def _state(run_dir):
    return load_file(str(run_dir / "model.safetensors"))


def test_first_step_loss_is_near_ln_vocab(tmp_path, corpus, tiny_overrides):
    result = train(TINY_TRAIN, out=tmp_path / "run", data=[str(corpus)], steps=1, overrides=tiny_overrides)
    assert abs(result.records[0]["loss"] - math.log(V)) < 1.0, result.records[0]


def test_a_fixed_batch_is_learned_far_below_ln_vocab(tmp_path, tiny_overrides):
    text = tmp_path / "one.txt"
    text.write_text("The cat sat on the mat and the dog ran to the red house.", encoding="utf-8")
    result = train(TINY_TRAIN, out=tmp_path / "run", data=[str(text)], steps=60, overrides=[
        *tiny_overrides, "training.batch_size=1", "training.schedule=constant", "data.validation=0",
        "training.optimizer={type: adamw, lr: 1.0e-2, weight_decay: 0.0}"])
    assert result.records[0]["loss"] > 5.0
    assert result.records[-1]["loss"] < 0.5, [r["loss"] for r in result.records[-5:]]


def test_two_micro_batches_of_two_equal_one_batch_of_four(tmp_path, corpus, tiny_overrides):
    # mini-batch SGD (the seed's section 3): Adam would divide float noise in near-zero gradients (the q/k
    # biases, which softmax ignores) by its own square root and turn it into full-size steps
    common = [*tiny_overrides, "training.batch_size=4", "training.grad_clip=null",
              "training.optimizer={type: sgd, lr: 0.5, momentum: 0.9}"]
    one = train(TINY_TRAIN, out=tmp_path / "one", data=[str(corpus)], steps=2, overrides=common)
    acc = train(TINY_TRAIN, out=tmp_path / "acc", data=[str(corpus)], steps=2,
                overrides=[*common, "training.micro_batch_size=2"])
    a, b = _state(tmp_path / "one"), _state(tmp_path / "acc")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    for r1, r2 in zip(one.records, acc.records):
        assert r1["loss"] == pytest.approx(r2["loss"], abs=1e-6)


@pytest.mark.slow
def test_resume_in_a_fresh_process_is_bitwise_equal(tmp_path, corpus, tiny_overrides):
    common = [*tiny_overrides, "training.micro_batch_size=2", "training.eval_every=1"]
    train(TINY_TRAIN, out=tmp_path / "straight", data=[str(corpus)], steps=4, overrides=common)
    first = train(TINY_TRAIN, out=tmp_path / "resumed", data=[str(corpus)], steps=4, overrides=common, until=2)
    assert first.step == 2 and (tmp_path / "resumed" / "checkpoints" / "step-00000002").is_dir()
    code = ("import sys, json, torch; torch.set_num_threads(1); from blockforge.train import train; "
            "train(sys.argv[1], out=sys.argv[2], data=[sys.argv[3]], steps=4, overrides=json.loads(sys.argv[4]), "
            "resume=True)")
    subprocess.run([sys.executable, "-c", code, str(TINY_TRAIN), str(tmp_path / "resumed"), str(corpus),
                    json.dumps(common)], check=True)
    a, b = _state(tmp_path / "straight"), _state(tmp_path / "resumed")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    oa = load_file(str(tmp_path / "straight" / "state" / "optimizer.safetensors"))
    ob = load_file(str(tmp_path / "resumed" / "state" / "optimizer.safetensors"))
    for k in oa:
        assert torch.equal(oa[k], ob[k]), k
    ma = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    drop = ("tokens_per_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in ma] == \
        [{k: v for k, v in r.items() if k not in drop} for r in mb]


def test_run_directory_is_a_model_directory_with_metrics(tmp_path, corpus, tiny_overrides):
    from blockforge.modeldir import load_generation_config, load_model, load_tokenizer

    run = tmp_path / "run"
    result = train(TINY_TRAIN, out=run, data=[str(corpus)], steps=6, overrides=[
        *tiny_overrides, "training.eval_every=3", "training.checkpoint_every=2", "training.keep_checkpoints=2"])
    for name in ("spec.yaml", "model.safetensors", "tokenizer.json", "generation.json", "metrics.jsonl",
                 "state/optimizer.safetensors", "state/trainer.json", "state/rng.safetensors"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000004", "step-00000006"]
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all({"step", "loss", "lr", "tokens"} <= r.keys() for r in records)
    assert [r["tokens"] for r in records] == [4 * 16 * s for s in range(1, 7)]
    evals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evals] == [3, 6]
    assert all(r["val_ppl"] == pytest.approx(math.exp(r["val_loss"])) for r in evals)
    try:
        import matplotlib  # noqa: F401 - the train extra
    except ImportError:
        assert not (run / "loss-curve.png").exists()
    else:
        assert (run / "loss-curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_model(run)
    assert load_tokenizer(run).get_vocab_size() == V
    generation = load_generation_config(run)
    assert generation.eos_ids()
    # conversations follow <|endoftext|> in the packed stream; a chat prompt starts the same way
    assert generation.chat_template is not None and generation.chat_template.bos == "<|endoftext|>"
    state = json.loads((run / "state" / "trainer.json").read_text())
    assert state["step"] == result.step == 6
    ids = torch.randint(0, V, (1, 8))
    with torch.no_grad():
        assert torch.isfinite(model(ids)).all()


CAUSAL_LM = {"type": "lm", "vocab_size": 320, "d_model": 16, "n_layers": 2, "max_len": 16,
             "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2, "causal": True},
                       "feedforward": {"type": "mlp", "hidden": 32}}}


def _spec(model, training):
    return {"blockforge": 1, "model": model, "training": training}


@pytest.mark.parametrize(("model", "loss", "words"), [
    ({**CAUSAL_LM, "block": {**CAUSAL_LM["block"], "attention": {"type": "mha", "heads": 2, "causal": False}}},
     "next_token", "sees later positions"),
    (CAUSAL_LM, "masked_lm", "every layer of this model is causal"),
    (CAUSAL_LM, "classification", "class head"),
    ({**CAUSAL_LM, "type": "encoder", "block": {**CAUSAL_LM["block"], "attention": {"type": "mha", "heads": 2}},
      "head": {"type": "classifier", "classes": 2}}, "masked_lm", "token logits"),
])
def test_objective_that_does_not_fit_the_model_is_a_located_error(model, loss, words):
    from blockforge.spec import load_spec

    with pytest.raises(SpecError) as exc:
        load_spec(_spec(model, {"loss": loss, "steps": 1}))
    issue = exc.value.issues[0]
    assert issue.path == ("training", "loss") and words in issue.message, issue


def test_objective_error_points_at_the_line_in_the_file(tmp_path):
    from blockforge.spec import load_spec

    path = tmp_path / "bad.yaml"
    path.write_text(TINY_TRAIN.read_text().replace("causal: true", "causal: false"), encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    issue = exc.value.issues[0]
    assert issue.location.source == str(path) and issue.location.line == path.read_text().splitlines().index(
        "  loss: next_token") + 1


def test_tokenizer_of_another_size_is_a_located_error(tmp_path, corpus, tiny_overrides):
    with pytest.raises(SpecError) as exc:
        train(TINY_TRAIN, out=tmp_path / "run", data=[str(corpus)], steps=1,
              overrides=[*tiny_overrides, "model.vocab_size=300"])
    issue = exc.value.issues[0]
    assert issue.path == ("model", "vocab_size") and "320" in issue.message and "--set" in str(issue.location)


def test_resume_with_other_data_is_refused(tmp_path, corpus, tiny_overrides):
    from blockforge.train import TrainError

    run = tmp_path / "run"
    train(TINY_TRAIN, out=run, data=[str(corpus)], steps=2, overrides=tiny_overrides, until=1)
    other = tmp_path / "other.txt"
    other.write_text("The red car ran fast on the road. " * 40, encoding="utf-8")
    with pytest.raises(TrainError, match="training data differs"):
        train(TINY_TRAIN, out=run, data=[str(other)], steps=2, overrides=tiny_overrides, resume=True)
    with pytest.raises(TrainError, match="no complete checkpoint"):
        train(TINY_TRAIN, out=tmp_path / "empty", data=[str(corpus)], steps=2, overrides=tiny_overrides, resume=True)

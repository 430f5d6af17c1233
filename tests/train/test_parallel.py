"""N processes equal one: the trainer on 2 gloo ranks (CPU) against the one-process run of the same spec,
data and global batch (specs/tiny-train.yaml, AdamW, gradient clipping, 5 steps, a checkpoint at step 3).

* ``blockforge train --nproc 2`` with FSDP2 (torch's launcher, through the command line);
* DDP through the trainer's :class:`DistributedStrategy` (``_parallel_worker.py``, one more launch, which also
  checks FSDP2's gradient average on gloo, pytorch/pytorch#162338);
* resume across world sizes: the 2-rank checkpoint at step 3 continued by one process, and the one-process
  checkpoint continued by 2 FSDP2 ranks, both equal to the uninterrupted run.

Tolerance 1e-5 (float32): the runs differ only in the order of floating-point sums. Attention biases are off:
softmax ignores the key bias, so its exact gradient is 0 and what reaches Adam is rounding noise of either
order, which Adam divides by its own square root (a 1e-4 difference after 5 steps, on a parameter that
changes nothing the model computes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from blockforge.cli import app
from blockforge.train import train
from tests.train.conftest import TINY_TRAIN

TOL = 1e-5
STEPS = 5
WORKER = Path(__file__).with_name("_parallel_worker.py")

pytestmark = pytest.mark.slow


def _overrides(tokenizer_file: Path) -> list[str]:
    return [f"data.tokenizer={{type: file, path: '{tokenizer_file}'}}", "model.block.attention.bias=false",
            "training.checkpoint_every=3"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}


def _records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _params(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def _at_step_3(run: Path, dest: Path) -> Path:
    """A copy of ``run`` whose newest checkpoint is step 3 (what ``--resume`` continues)."""
    shutil.copytree(run, dest)
    shutil.rmtree(dest / "checkpoints" / f"step-{STEPS:08d}")
    return dest


def _masked_lm(corpus: Path, root: Path) -> dict:
    """A 3-step masked-LM run of a small encoder (its WordPiece tokenizer has the mask token)."""
    from blockforge.data.tokenizer import train_tokenizer
    from blockforge.spec.training import TokenizerSpec

    tok = train_tokenizer(TokenizerSpec(type="wordpiece", min_frequency=1),
                          [p.read_text() for p in sorted(corpus.iterdir())], vocab_size=200)
    tok.save(str(root / "wordpiece.json"))
    model = {"type": "encoder", "vocab_size": tok.get_vocab_size(), "d_model": 32, "n_layers": 2, "max_len": 16,
             "positional": "learned", "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2,
             "bias": False}, "feedforward": {"type": "mlp", "hidden": 64}}, "final_norm": "layernorm",
             "head": {"type": "lm", "tied": True}}
    return {"blockforge": 1, "model": model,
            "training": {"loss": "masked_lm", "optimizer": {"type": "adamw", "lr": 3.0e-3}, "batch_size": 4,
                         "seq_len": 16, "steps": 3},
            "data": {"sources": [{"format": "text", "path": str(corpus)}], "validation": 0,
                     "tokenizer": {"type": "file", "path": str(root / "wordpiece.json")}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, corpus, tokenizer_file) -> dict:
    """The one-process references, then the two launches of 2 ranks."""
    root = tmp_path_factory.mktemp("parallel")
    overrides = _overrides(tokenizer_file)
    ref = train(TINY_TRAIN, out=root / "one", data=[str(corpus)], steps=STEPS, overrides=overrides)
    masked_lm = _masked_lm(corpus, root)
    mlm = train(masked_lm, out=root / "masked-lm")
    _at_step_3(root / "one", root / "worker" / "resumed-1to2")

    cli = [sys.executable, "-m", "blockforge", "train", str(TINY_TRAIN), "--out", str(root / "fsdp"), "--data",
           str(corpus), "--steps", str(STEPS), "--nproc", "2", "--set", "parallel.strategy=fsdp"]
    for item in overrides:
        cli += ["--set", item]
    fsdp = subprocess.run(cli, capture_output=True, text=True, timeout=600, env=_env())
    assert fsdp.returncode == 0, fsdp.stdout[-3000:] + fsdp.stderr[-5000:]

    config = {"spec": str(TINY_TRAIN), "corpus": str(corpus), "steps": STEPS, "overrides": overrides,
              "masked_lm": masked_lm}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(WORKER),
           str(root / "worker"), json.dumps(config)]
    worker = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_env())
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-5000:]
    return {"root": root, "one": ref, "masked_lm": mlm, "fsdp_stderr": fsdp.stderr, "overrides": overrides,
            "worker": json.loads((root / "worker" / "result.json").read_text())}


def test_fsdp_through_the_command_line_equals_one_process(runs) -> None:
    root = runs["root"]
    one, fsdp = _records(root / "one"), _records(root / "fsdp")
    assert [r["step"] for r in fsdp] == list(range(1, STEPS + 1))  # rank 0 alone writes the metrics
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(one, fsdp)) < TOL
    assert abs(one[-1]["val_loss"] - fsdp[-1]["val_loss"]) < TOL
    assert _max_diff(_params(root / "one"), _params(root / "fsdp")) < TOL
    # the 5 steps moved the weights far more than the tolerance: the comparison can fail
    assert _max_diff(_params(root / "one"), _params(root / "one" / "checkpoints" / "step-00000003")) > 100 * TOL
    assert runs["fsdp_stderr"].count("run directory") == 1  # rank 0 alone reports
    assert json.loads((root / "fsdp" / "state" / "trainer.json").read_text())["world_size"] == 2
    assert sorted(p.name for p in (root / "fsdp" / "state" / "dcp").glob("*.distcp")) == [
        "__0_0.distcp", "__1_0.distcp"]


def test_ddp_equals_one_process(runs) -> None:
    root = runs["root"]
    one = [r["loss"] for r in runs["one"].records]
    assert max(abs(a - b) for a, b in zip(one, runs["worker"]["ddp"])) < TOL
    assert _max_diff(_params(root / "one"), _params(root / "worker" / "ddp")) < TOL


def test_masked_lm_chooses_the_same_tokens_on_two_ranks(runs) -> None:
    """Every rank draws the whole step's masking from the one-process stream and keeps its rows."""
    one = [r["loss"] for r in runs["masked_lm"].records]
    assert max(abs(a - b) for a, b in zip(one, runs["worker"]["masked-lm"])) < TOL
    assert _max_diff(_params(runs["root"] / "masked-lm"), _params(runs["root"] / "worker" / "masked-lm")) < TOL


def test_every_rank_draws_its_own_dropout(runs) -> None:
    """Rank 0 keeps the one-process stream; the others get streams of their own, saved with the checkpoint."""
    seeds = runs["worker"]["dropout_seeds"]
    assert seeds[0] == 0 + 2 and len(set(seeds)) == 2  # training.seed 0
    assert (runs["root"] / "worker" / "ddp" / "state" / "rng-rank1.safetensors").is_file()


def test_ranks_that_read_different_data_are_stopped(runs) -> None:
    """Each rank tokenises and packs the data itself; windows that differ between ranks are an error."""
    assert "training windows differ between rank 0 and rank(s) 1" in runs["worker"]["check_same"]


def test_fsdp_gradient_is_the_average_on_gloo(runs) -> None:
    """#162338 reported FSDP2's ReduceOp.AVG reduce-scatter on gloo summing instead of averaging (gradients
    world-size times too large). On torch 2.13.0 it averages (this fails if a torch brings it back); the
    FSDP wrapping reduces with SUM and divides on gloo anyway (``apply_fsdp(sum_then_divide=None)``)."""
    result = runs["worker"]
    assert result["world_size"] == 2
    assert result["fsdp_grad_ratio_workaround"] == pytest.approx(1.0, abs=1e-5)
    assert result["fsdp_grad_ratio_avg"] == pytest.approx(1.0, abs=1e-5), (
        f"FSDP2 AVG on gloo scales gradients by {result['fsdp_grad_ratio_avg']:.3f}: pytorch/pytorch#162338 "
        f"applies to torch {torch.__version__}")


def test_one_process_checkpoint_resumes_on_two_ranks(runs) -> None:
    root = runs["root"]
    one = [r["loss"] for r in runs["one"].records]
    assert max(abs(a - b) for a, b in zip(one[3:], runs["worker"]["resumed-1to2"])) < TOL
    assert _max_diff(_params(root / "one"), _params(root / "worker" / "resumed-1to2")) < TOL


def test_two_rank_checkpoint_resumes_in_one_process(runs, corpus, tmp_path) -> None:
    root = runs["root"]
    resumed = _at_step_3(root / "fsdp", tmp_path / "resumed")
    result = train(TINY_TRAIN, out=resumed, data=[str(corpus)], steps=STEPS, overrides=runs["overrides"],
                   resume=True)
    one = [r["loss"] for r in runs["one"].records]
    assert [r["step"] for r in result.records] == [4, 5]
    assert max(abs(a - b["loss"]) for a, b in zip(one[3:], result.records)) < TOL
    assert _max_diff(_params(root / "one"), _params(resumed)) < TOL


def test_sharded_checkpoint_exports_the_gathered_weights(runs, tmp_path) -> None:
    from blockforge.distributed.export import export_checkpoint
    from blockforge.modeldir import load_model

    step3 = runs["root"] / "fsdp" / "checkpoints" / "step-00000003"
    out = export_checkpoint(step3 / "state" / "dcp", tmp_path / "exported")
    assert _max_diff(_params(out), _params(step3)) == 0.0
    assert (out / "tokenizer.json").read_bytes() == (step3 / "tokenizer.json").read_bytes()
    model = load_model(out)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randint(0, 320, (1, 8)))).all()


def test_nproc_without_a_strategy_is_a_located_error(tmp_path, corpus, tokenizer_file) -> None:
    res = CliRunner().invoke(app, ["train", str(TINY_TRAIN), "--out", str(tmp_path / "run"), "--data",
                                   str(corpus), "--nproc", "2", "--set", f"data.tokenizer={{type: file, path: "
                                   f"'{tokenizer_file}'}}"])
    assert res.exit_code == 1, res.output
    assert "parallel.strategy is none" in res.output and "parallel.strategy=ddp" in res.output
    assert str(TINY_TRAIN) in res.output and not (tmp_path / "run").exists()


def test_nproc_that_does_not_divide_the_batch_is_a_located_error(tmp_path, corpus) -> None:
    res = CliRunner().invoke(app, ["train", str(TINY_TRAIN), "--out", str(tmp_path / "run"), "--data",
                                   str(corpus), "--nproc", "3", "--set", "parallel.strategy=ddp"])
    assert res.exit_code == 1, res.output
    line = TINY_TRAIN.read_text().splitlines().index("  batch_size: 4") + 1
    assert "global batch 4 does not divide by the world size 3" in res.output
    assert f"{TINY_TRAIN}:{line}:" in res.output and "batch_size of 3 or 6" in res.output

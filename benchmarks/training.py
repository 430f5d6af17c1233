"""Training: gpt2-small through ``blockforge.train`` against transformers' ``Trainer`` (tokens/s on the same
token windows, batch, sequence length, float32, AdamW, no clipping difference), and the training memory
``summarize`` predicts against the peak RSS of a real run.

    python -m benchmarks.training            # gpt2-small, batch 4 x 128 tokens; rewrites its section of RESULTS.md
    python -m benchmarks.training --smoke    # tiny sizes (checks the benchmark runs)

Each case runs in a fresh subprocess (``python -m benchmarks.training --case NAME``), so imports, allocator
state and the peak RSS of one case do not leak into another; throughput cases alternate (ours, theirs, ours,
theirs) so that drifting load on a shared machine hits both alike.

Data: a synthetic corpus of uniformly random words from a 50,257-word vocabulary, a ``tokenizers`` WordLevel
tokenizer of exactly that size (one token per word), packed by blockforge into ``seq_len + 1`` windows; the
transformers run reads the same windows (``input_ids = window[:-1]``, the model shifts labels itself).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- training:begin -->", "<!-- training:end -->"


def _sizes(smoke: bool) -> dict:
    if smoke:
        return {"vocab": 512, "batch": 2, "seq": 16, "steps": 2, "overrides": [
            "model.vocab_size=512", "model.d_model=32", "model.n_layers=2", "model.max_len=32",
            "model.block.attention.heads=2", "model.block.feedforward.hidden=64"]}
    return {"vocab": 50257, "batch": 4, "seq": 128, "steps": 6, "overrides": []}


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _corpus(folder: Path, vocab: int, n_tokens: int) -> tuple[Path, Path]:
    """A random-word corpus and a WordLevel tokenizer of exactly ``vocab`` tokens (5 of them special)."""
    import random

    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(vocab - 1)]
    tok = Tokenizer(models.WordLevel({"<|endoftext|>": 0, **{w: i + 1 for i, w in enumerate(words)}},
                                     unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    rng = random.Random(0)
    text = folder / "corpus"
    text.mkdir(exist_ok=True)
    for d in range(8):
        (text / f"doc{d}.txt").write_text(" ".join(rng.choice(words) for _ in range(n_tokens // 8)))
    path = folder / "tokenizer.json"
    tok.save(str(path))
    return text, path


def _spec_overrides(smoke: bool, tok: Path, batch: int, seq: int, steps: int) -> list[str]:
    return [*_sizes(smoke)["overrides"], f"data.tokenizer={{type: file, path: '{tok}'}}", "data.validation=0",
            f"training.batch_size={batch}", f"training.seq_len={seq}", f"training.steps={steps}",
            "training.optimizer={type: adamw, lr: 1.0e-4, weight_decay: 0.0}", "training.grad_clip=1.0",
            "training.log_every=1000000", "training.checkpoint_every=null"]


def case_blockforge(smoke: bool, work: Path) -> dict:
    """Time our trainer's steps (the first, warm-up step excluded)."""
    import torch

    from blockforge.spec import load_document, validate_document
    from blockforge.registry.plugins import default_registries
    from blockforge.train import Trainer

    s = _sizes(smoke)
    text, tok = _corpus(work, s["vocab"], s["batch"] * (s["seq"] + 1) * (s["steps"] + 2))
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    reg = default_registries()
    doc = load_document(ROOT / "specs" / "gpt2-small.yaml", overrides=[
        *_spec_overrides(smoke, tok, s["batch"], s["seq"], s["steps"]),
        f"data.sources=[{{format: text, path: '{text}'}}]"])
    trainer = Trainer(validate_document(doc, reg), run_dir=work / "run", document=doc, registries=reg)
    trainer.setup()
    times = []
    for _ in range(s["steps"]):
        t0 = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - t0)
    return {"step_s": times[1:], "tokens_per_step": s["batch"] * s["seq"],
            "windows": trainer.train_windows.tokens[: s["batch"] * s["steps"]].tolist()}


def case_transformers(smoke: bool, work: Path) -> dict:
    """Time transformers' Trainer on the same windows with GPT2LMHeadModel of gpt2-small's config."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

    s = _sizes(smoke)
    windows = json.loads((work / "windows.json").read_text())
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    if smoke:
        config = GPT2Config(vocab_size=512, n_positions=32, n_embd=32, n_layer=2, n_head=2, n_inner=64)
    else:
        config = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
    config._attn_implementation = "sdpa"
    model = GPT2LMHeadModel(config)

    class Data(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(windows)

        def __getitem__(self, i: int) -> dict:
            ids = torch.tensor(windows[i][:-1])
            return {"input_ids": ids, "labels": ids.clone()}

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t0)

    args = TrainingArguments(output_dir=str(work / "hf"), per_device_train_batch_size=s["batch"], max_steps=s["steps"],
                             learning_rate=1e-4, weight_decay=0.0, max_grad_norm=1.0,  # default optim: fused AdamW
                             lr_scheduler_type="cosine", warmup_steps=0, logging_strategy="no",
                             save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                             disable_tqdm=True, seed=0)
    Trainer(model=model, args=args, train_dataset=Data(), callbacks=[Clock()]).train()
    return {"step_s": times[1:], "tokens_per_step": s["batch"] * s["seq"]}


def case_memory(smoke: bool, work: Path) -> dict:
    """Peak RSS of a training run above the RSS before the model is built, and what ``summarize`` predicts."""
    import torch

    import blockforge
    from blockforge.registry.plugins import default_registries
    from blockforge.spec import load_document, validate_document
    from blockforge.train import Trainer

    s = _sizes(smoke)
    text, tok = _corpus(work, s["vocab"], s["batch"] * (s["seq"] + 1) * 4)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    reg = default_registries()
    doc = load_document(ROOT / "specs" / "gpt2-small.yaml", overrides=[
        *_spec_overrides(smoke, tok, s["batch"], s["seq"], 3), f"data.sources=[{{format: text, path: '{text}'}}]"])
    spec = validate_document(doc, reg)
    summary = blockforge.summarize(spec, batch=s["batch"], seq_len=s["seq"])
    trainer = Trainer(spec, run_dir=work / "run", document=doc, registries=reg)
    before = _vm("VmRSS")
    trainer.setup()
    for _ in range(3):
        trainer.train_step()
    return {"measured": _vm("VmHWM") - before, "predicted": summary.memory.training,
            "parts": {k: v for k, v in summary.memory.to_dict().items() if isinstance(v, int)}}


CASES = {"blockforge": case_blockforge, "transformers": case_transformers, "memory": case_memory}


def _run_case(name: str, smoke: bool, work: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.training", "--case", name, "--work", str(work)]
    if smoke:
        cmd.append("--smoke")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode != 0:
        raise SystemExit(f"benchmark case {name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(*, smoke: bool, rounds: int) -> str:
    """Run every case and return the markdown section."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours, theirs = [], []
        for r in range(rounds):
            got = _run_case("blockforge", smoke, work)
            (work / "windows.json").write_text(json.dumps(got.pop("windows")))
            ours += got["step_s"]
            theirs += _run_case("transformers", smoke, work)["step_s"]
            print(f"[bench] training round {r + 1}/{rounds}: ours {statistics.median(ours):.3f} s/step, "
                  f"transformers {statistics.median(theirs):.3f} s/step", file=sys.stderr, flush=True)
        mem = _run_case("memory", smoke, work)
    s = _sizes(smoke)
    tokens = s["batch"] * s["seq"]
    rate_ours, rate_theirs = tokens / statistics.median(ours), tokens / statistics.median(theirs)
    ratio = rate_ours / rate_theirs
    err = mem["predicted"] / mem["measured"] - 1
    mib = 2**20
    lines = [
        BEGIN, "## Training (gpt2-small, `python -m benchmarks.training`)", "",
        f"Batch {s['batch']} x {s['seq']} tokens, float32, AdamW, grad clip 1.0, {os.environ.get('BENCH_THREADS', '2')} "
        f"threads, {rounds} alternating rounds of {s['steps'] - 1} timed steps each (medians).",
        f"{'Smoke run (tiny sizes): not a measurement.' if smoke else ''}", "",
        "| what | blockforge train | transformers Trainer | ratio | goal |", "|---|---|---|---|---|",
        f"| tokens/s | {rate_ours:,.0f} | {rate_theirs:,.0f} | {ratio:.2f}x | >= 1.1x: {'met' if ratio >= 1.1 else 'missed'} |",
        f"| s/step (median) | {statistics.median(ours):.3f} | {statistics.median(theirs):.3f} | | |", "",
        "| training memory | bytes | |", "|---|---|---|",
        f"| predicted by `summarize` (weights + gradients + AdamW + activations) | {mem['predicted'] / mib:,.0f} MiB | |",
        f"| measured: peak RSS of the run above the RSS before the model was built | {mem['measured'] / mib:,.0f} MiB | "
        f"prediction {err:+.1%}; goal within 15 %: {'met' if abs(err) <= 0.15 else 'missed'} |", "",
        "Predicted parts: " + ", ".join(f"{k} {v / mib:,.0f} MiB" for k, v in mem["parts"].items()) + ".", "",
        f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} "
        "(the machine is shared with other engineers' builds and tests: absolute figures vary run to run; "
        "the ratio is measured in alternating rounds).", END,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS, help="report whose training section is replaced")
    ap.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case:
        print(json.dumps(CASES[args.case](args.smoke, args.work)))
        return 0
    section = run(smoke=args.smoke, rounds=args.rounds or (1 if args.smoke else 2))
    text = args.out.read_text() if args.out.is_file() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    args.out.write_text(text)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())

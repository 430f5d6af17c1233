"""Model speed: a training step and an inference forward of the compiled gpt2-small spec, side by side
with transformers' GPT2LMHeadModel (sdpa) and a hand-written nanoGPT-style model.

Training step = forward, cross-entropy loss over every position, backward, gradients freed. No optimizer
step (it is the same ``torch.optim`` call for all three and would only add a memory-bound constant).
Inference = one forward under ``torch.no_grad()`` in eval mode (transformers with ``use_cache=False``).
All in float32, dropout 0.1 as in the spec (active in the training step), same batch, same tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmarks import models
from benchmarks.timing import Figure, interleaved, peak_flops

SECTION = "Model speed"


def forward_flops(sizes: models.Sizes, batch: int, seq: int) -> float:
    """Matmul FLOPs of one forward: 2 x tokens x (weights of every linear incl. the head) + attention.

    Attention scores and the weighted sum cost 2 x 2 x B x T^2 x d per layer (counted in full, as the
    kernel computes the full square). Norms, activations, softmax and the embedding lookup are left out.
    """
    d, L = sizes.d_model, sizes.n_layers
    tokens = batch * seq
    linear = L * (4 * d * d + 2 * d * sizes.hidden) + d * sizes.vocab_size
    return 2.0 * tokens * linear + L * 4.0 * batch * seq * seq * d


def sgemm_rate(n: int, reps: int) -> float:
    """Measured float32 matmul rate (FLOP/s) of an n x n x n product: what the cores deliver in practice."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    times.sort()
    return 2.0 * n**3 / times[len(times) // 2]


def run(*, smoke: bool, reps: int, batch: int, seq: int) -> tuple[list[Figure], dict[str, str]]:
    """Measure; returns the figures and notes (FLOP rates, peaks) for the report."""
    import blockforge

    spec = models.load_yaml(models.SPECS / "gpt2-small.yaml")
    if smoke:
        spec = models.shrink(spec, max_len=max(32, seq))
    sizes = models.Sizes.of(spec)
    torch.manual_seed(0)
    built: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    params: dict[str, int] = {}

    bf = blockforge.build_model(spec, seed=0)
    built["blockforge (specs/gpt2-small.yaml)"] = lambda ids, m=bf: m(ids)
    params["blockforge (specs/gpt2-small.yaml)"] = models.n_params(bf)
    mods = [bf]
    anchor = None
    if models.have_transformers():
        hf = models.hf_gpt2(sizes)
        anchor = "transformers GPT2LMHeadModel (sdpa)"
        built[anchor] = lambda ids, m=hf: m(input_ids=ids, use_cache=False).logits
        params[anchor] = models.n_params(hf)
        mods.append(hf)
    ng = models.nanogpt(sizes)
    built["hand-written nanoGPT-style"] = lambda ids, m=ng: m(ids)
    params["hand-written nanoGPT-style"] = models.n_params(ng)
    mods.append(ng)

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, sizes.vocab_size, (batch, seq), generator=g)
    targets = torch.randint(0, sizes.vocab_size, (batch, seq), generator=g)

    def train_step(fwd, module):
        def step():
            module.zero_grad(set_to_none=True)
            logits = fwd(ids)  # (B, T, V)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            loss.backward()
            module.zero_grad(set_to_none=True)  # free the gradients before the next model runs
        return step

    def infer(fwd):
        def step():
            with torch.no_grad():
                fwd(ids)
        return step

    names = list(built)
    for m in mods:
        m.train()
    train = interleaved({n: train_step(built[n], m) for n, m in zip(names, mods)}, reps=reps, warmup=1)
    for m in mods:
        m.eval()
        m.zero_grad(set_to_none=True)
    inf = interleaved({n: infer(built[n]) for n in names}, reps=reps, warmup=1)

    fwd = forward_flops(sizes, batch, seq)
    threads = torch.get_num_threads()
    peak, peak_how = peak_flops(threads)
    gemm = sgemm_rate(256 if smoke else 2048, 3 if smoke else 7)
    figures: list[Figure] = []
    for label, times, flops in (("training step", train, 3 * fwd), ("inference forward", inf, fwd)):
        for n in names:
            f = Figure(SECTION, f"{label}: {n}", times[n], anchor=f"{label}: {anchor}" if anchor and n != anchor
                       else None)
            rate = flops / f.median
            f.extra = {
                "params": f"{params[n]:,}",
                "GFLOP/s": f"{rate / 1e9:.1f}",
                "of peak": f"{rate / peak:.0%}" if peak else "n/a",
                "of sgemm": f"{rate / gemm:.0%}",
            }
            figures.append(f)
    notes = {
        "shape": f"batch {batch} x {seq} tokens, float32, {threads} threads, {reps} timed runs after 1 warm-up",
        "FLOPs per forward": f"{fwd / 1e9:.1f} GFLOP (training step counted as 3x forward: {3 * fwd / 1e9:.1f})",
        "machine peak estimate": f"{peak / 1e9:.1f} GFLOP/s = {peak_how}" if peak else peak_how,
        "measured sgemm": f"{gemm / 1e9:.1f} GFLOP/s ({'256' if smoke else '2048'}^3 float32 matmul, median)",
    }
    return figures, notes

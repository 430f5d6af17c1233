"""Memory: peak RSS of a fresh interpreter that builds the seed model on CPU, against the parameter
bytes and against an interpreter that only imports torch.

Each case runs in its own subprocess (``python -m benchmarks.memory CASE [--smoke]``), which prints its
peak resident set size (``VmHWM``) and the bytes of the model's parameters and buffers as JSON.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

from benchmarks import models
from benchmarks.timing import Figure

SECTION = "Memory (peak RSS)"
BASELINE = "interpreter + import torch"
CASES = {
    BASELINE: "baseline",
    "interpreter + import torch + import blockforge (no build)": "imports",
    "blockforge build_model (specs/seed.yaml) on CPU": "blockforge",
    "seed guide's Transformer(...) on CPU": "guide",
    "transformers GPT2LMHeadModel(config), seed sizes, ReLU, untied": "transformers",
}


def _child(case: str, smoke: bool) -> dict[str, int]:
    import torch

    model = None
    spec = models.load_yaml(models.SPECS / "seed.yaml")
    if smoke:
        spec = models.shrink(spec)
    sizes = models.Sizes.of(spec)
    if case == "imports":
        import blockforge.build  # noqa: F401
        from blockforge.registry.plugins import default_registries

        default_registries()
    elif case == "blockforge":
        import blockforge

        model = blockforge.build_model(spec, seed=0)
    elif case == "guide":
        model = models.seed_guide(sizes)
    elif case == "transformers":
        model = models.hf_gpt2(sizes, activation="relu", tied=False)
    elif case != "baseline":
        raise SystemExit(f"unknown case {case!r}")
    nbytes = 0
    if model is not None:
        tensors = {id(t): t for t in (*model.parameters(), *model.buffers())}.values()
        nbytes = sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
    return {"peak_rss": _peak_rss(), "model_bytes": nbytes}


def _peak_rss() -> int:
    """Peak RSS of this process in bytes.

    ``VmHWM`` (Linux) is the high-water mark of this process's own address space. ``ru_maxrss`` is the
    fallback elsewhere; on Linux it is not used because it keeps the parent's peak across fork + exec,
    so every child would report at least the benchmark runner's own size.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def run(*, smoke: bool, reps: int) -> tuple[list[Figure], dict[str, int]]:
    """Run every case ``reps`` times (round-robin, each in a fresh process); medians of peak RSS."""
    cases = dict(CASES)
    if not models.have_transformers():
        cases = {k: v for k, v in cases.items() if v != "transformers"}
    rss: dict[str, list[float]] = {n: [] for n in cases}
    model_bytes: dict[str, int] = {}
    for _ in range(reps):
        for name, case in cases.items():
            cmd = [sys.executable, "-m", "benchmarks.memory", case, *(["--smoke"] if smoke else [])]
            proc = subprocess.run(cmd, cwd=models.ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"memory case {case} failed: {proc.stderr[-2000:]}")
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            rss[name].append(out["peak_rss"] / 2**20)
            model_bytes[name] = out["model_bytes"]
    figures = [
        Figure(SECTION, n, r, anchor=BASELINE if n != BASELINE else None, unit="MiB",
               extra={"model bytes": f"{model_bytes[n] / 2**20:.1f} MiB" if model_bytes[n] else ""})
        for n, r in rss.items()
    ]
    base = figures[0].median
    for f in figures[1:]:
        over = f.median - base
        mb = model_bytes[f.name] / 2**20
        f.extra["over baseline"] = f"{over:.1f} MiB" + (f" = {over / mb:.2f}x model bytes" if mb else "")
    return figures, model_bytes


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], "--smoke" in sys.argv[2:])))

"""Build time: spec -> model on CPU, against transformers built from its config and against the code a
user would write by hand (the seed guide's constructor; a nanoGPT-style constructor); and meta-device
build plus summary of the 8B and 70B Llama specs in specs/.

CPU builds are timed in-process after one untimed warm-up round (plugin discovery, imports and the
allocator's first touch are not counted), interleaved round-robin. Every build allocates and
initialises all weights; the alternatives use their own initialisation.
"""

from __future__ import annotations

from typing import Any

from benchmarks import models
from benchmarks.timing import Figure, interleaved

SECTION_CPU = "Build time (CPU)"
SECTION_META = "Meta-device build + summary"
HF = "transformers"


def run_cpu(*, smoke: bool, reps: int) -> list[Figure]:
    import blockforge

    figures: list[Figure] = []
    seed = models.load_yaml(models.SPECS / "seed.yaml")
    gpt2 = models.load_yaml(models.SPECS / "gpt2-small.yaml")
    if smoke:
        seed, gpt2 = models.shrink(seed), models.shrink(gpt2)
    have_hf = models.have_transformers()
    for spec_name, spec, other_name, other in (
        ("seed", seed, "seed guide's Transformer(...)", models.seed_guide),
        ("gpt2-small", gpt2, "nanoGPT-style GPT(config)", models.nanogpt),
    ):
        sizes = models.Sizes.of(spec)
        cases: dict[str, Any] = {f"blockforge build_model (specs/{spec_name}.yaml)": lambda s=spec: blockforge.build_model(s, seed=0)}
        anchor = None
        if have_hf:
            if spec_name == "seed":
                anchor = f"{HF} GPT2LMHeadModel(config), seed sizes, ReLU, untied"
                cases[anchor] = lambda s=sizes: models.hf_gpt2(s, activation="relu", tied=False)
            else:
                anchor = f"{HF} GPT2LMHeadModel(config)"
                cases[anchor] = lambda s=sizes: models.hf_gpt2(s)
        cases[other_name] = lambda s=sizes, f=other: f(s)
        counts = {n: models.n_params(f()) for n, f in cases.items()}
        times = interleaved(cases, reps=reps, warmup=1)
        for n, t in times.items():
            figures.append(Figure(SECTION_CPU, f"{spec_name}: {n}", t,
                                  anchor=f"{spec_name}: {anchor}" if anchor and n != anchor else None,
                                  extra={"params": f"{counts[n]:,}"}))
    return figures


def run_meta(*, smoke: bool, reps: int) -> list[Figure]:
    from blockforge import build_model, summarize

    figures: list[Figure] = []
    have_hf = models.have_transformers()
    for label, path in (("8B", models.SPECS / "llama3-8b.yaml"), ("70B", models.SPECS / "llama-70b.yaml")):
        spec = models.load_yaml(path)
        if smoke:
            spec = models.shrink(spec, max_len=16)
        holder: dict[str, Any] = {}
        cases: dict[str, Any] = {
            "blockforge build_model(device='meta')": lambda s=spec: build_model(s, device="meta"),
            "blockforge summarize (meta build + probe forward + table)": lambda s=spec: holder.__setitem__("summary", summarize(s)),
        }
        anchor = None
        if have_hf:
            anchor = f"{HF} LlamaForCausalLM(config) under torch.device('meta')"
            cases[anchor] = lambda s=spec: models.hf_llama_meta(s)
        times = interleaved(cases, reps=reps, warmup=1)
        counts = {n: f"{holder['summary'].total_params:,}" for n in cases if n.startswith("blockforge")}
        if anchor:
            counts[anchor] = f"{models.n_params(models.hf_llama_meta(spec)):,}"
        for n, t in times.items():
            figures.append(Figure(SECTION_META, f"{label} ({path.name}): {n}", t,
                                  anchor=f"{label} ({path.name}): {anchor}" if anchor and n != anchor else None,
                                  extra={"params": counts[n],
                                         "probe": f"1 x {spec['model']['max_len']} tokens" if "summarize" in n else ""}))
    return figures


SECTION_COLD = "Build time, first build in a fresh process (CPU)"
COLD_CASES = {
    "blockforge build_model (specs/seed.yaml)": "blockforge",
    f"{HF} GPT2LMHeadModel(config), seed sizes, ReLU, untied": "transformers",
    "seed guide's Transformer(...)": "guide",
}


def _cold_child(case: str, smoke: bool) -> float:
    """In a fresh interpreter (torch and the builder's modules imported, untimed): time the first build."""
    import time

    import torch  # noqa: F401

    spec = models.load_yaml(models.SPECS / "seed.yaml")
    if smoke:
        spec = models.shrink(spec)
    sizes = models.Sizes.of(spec)
    if case == "blockforge":
        import blockforge.build

        build = lambda: blockforge.build.build_model(spec, seed=0)  # noqa: E731
    elif case == "transformers":
        import transformers  # noqa: F401

        build = lambda: models.hf_gpt2(sizes, activation="relu", tied=False)  # noqa: E731
    elif case == "guide":
        build = lambda: models.seed_guide(sizes)  # noqa: E731
    else:
        raise SystemExit(f"unknown case {case!r}")
    t0 = time.perf_counter()
    build()
    return time.perf_counter() - t0


def run_cold(*, smoke: bool, reps: int) -> list[Figure]:
    """The first build in a fresh process: what ``blockforge build`` or a notebook's first cell pays,
    on top of importing torch (imports are done, untimed, before the clock starts)."""
    import json
    import subprocess
    import sys

    cases = {n: c for n, c in COLD_CASES.items() if c != "transformers" or models.have_transformers()}
    anchor = next((n for n, c in cases.items() if c == "transformers"), None)
    runs: dict[str, list[float]] = {n: [] for n in cases}
    for _ in range(reps):
        for name, case in cases.items():
            cmd = [sys.executable, "-m", "benchmarks.build_time", case, *(["--smoke"] if smoke else [])]
            proc = subprocess.run(cmd, cwd=models.ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"cold build {case} failed: {proc.stderr[-2000:]}")
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
    return [Figure(SECTION_COLD, f"seed: {n}", r, anchor=f"seed: {anchor}" if anchor and n != anchor else None)
            for n, r in runs.items()]


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps({"seconds": _cold_child(sys.argv[1], "--smoke" in sys.argv[2:])}))

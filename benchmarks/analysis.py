"""Why a goal is missed and what would close it: written after profiling, printed for missed goals.

Measured with cProfile, ``-X importtime``, ``/proc/self/status`` (VmRSS/VmHWM) probes and patched copies
of ``src/`` outside the repository (the fixes below were tried that way; ``src/`` itself is not changed
by this issue). Where a figure below comes from a separate probe rather than this report's run, it says so.
"""

from __future__ import annotations

_GENERATE = (
    "Cause: both sides run the same weights through the same kernels at every step, and at these batch "
    "sizes a step is bound by reading the weights, not by Python. One decoding step of gpt2-small reads "
    "all 124M float32 weights (about 0.5 GB, the tied LM head included) to produce one token per row "
    "(an estimate from the sizes, not a profile); blockforge already does no more than that (cached keys "
    "and values, the head on the last position only), and transformers' `generate` does the same, so what "
    "blockforge can remove is transformers' per-step bookkeeping (logits processors, cache objects, "
    "`prepare_inputs_for_generation`), a few ms against a step that costs tens of ms here. The static "
    "cache saves the per-step `torch.cat` of keys and values, which is small next to the weight reads; "
    "`torch.compile` fuses element-wise work around the GEMMs but not the GEMMs themselves, and its "
    "recompilations for new lengths are paid in the warm-up. A first, stopped attempt (separate probe, "
    "2026-12-01, load average ~12 on the 2 cores, `--threads 1 --reps 1`, batch 1 only) gave "
    "transformers 19.7 s, blockforge 17.3 s (dynamic cache, 0.88x), 21.0 s (static cache) and 18.8 s "
    "(`torch.compile`) for 128 tokens: neither variant was a gain there. What "
    "would close it: less memory traffic per token, i.e. bfloat16 weights (half the bytes read; "
    "`load_model(dtype=torch.bfloat16)`) or int8 weight-only quantisation, which changes what is compared "
    "(both sides would have to run it), or larger batches, where the same weight reads serve more rows."
)

_BUILD = (
    "Cause: building is almost entirely random-number generation. cProfile of a warm gpt2-small "
    "`build_model` (separate probe, loaded machine): 88% in `initialize` (one `normal_` pass over all "
    "124,439,808 weights), 10% constructing the module tree on the meta device, <2% validation, "
    "allocation and hashing. blockforge already fills every weight exactly once; transformers fills most "
    "weights twice (125 `normal_` calls plus a `uniform_` pass in the same probe: `Conv1D`/`nn.Embedding` "
    "constructors initialise, then `post_init` re-initialises), and the seed guide's and nanoGPT's "
    "constructors fill once (nanoGPT twice for the `c_proj` weights). With one fill against about two, the "
    "ratio to transformers sits at about 0.5x and is decided by noise; a single-stream `normal_` is the "
    "floor. What would close it: (1) `src/blockforge/build.py`, `initialize`: for specs with `init_std`, "
    "fill the weights in parallel, one `torch.Generator` per tensor seeded from `(seed, tensor index)`, "
    "each `nn.init.normal_(w, std=..., generator=g)` on a thread pool of `torch.get_num_threads()` "
    "workers (the op releases the GIL): deterministic for a seed, about 1/threads of the fill time, so "
    "about 0.25-0.3x transformers on 2 cores (it changes the weights a given seed produces, so golden "
    "numbers move once). (2) `_materialize`: skip the meta-device `reset_parameters` calls (see the "
    "memory note), which also removes most of the 10% spent constructing on meta."
)

_BUILD_SEED = (
    "Cause: the seed spec has no `init_std`, so blockforge keeps PyTorch's default initialisation "
    "(`reset_parameters`: kaiming-uniform linears, N(0, 1) embedding), one pass over the 50M weights, "
    "exactly what the seed guide's own constructor does; blockforge's time is close to the guide's "
    "in the table below (first full run, loaded machine: 1.72 s against 1.61 s, ranges overlapping). One serial default-init pass is the floor, and "
    "transformers' GPT2 at these sizes costs only ~1.3x it, so 0.5x needs a faster fill, not less "
    "overhead (validation, meta construction and hashing are a few percent). What would close it: "
    "`src/blockforge/build.py`, `initialize`: initialise known module types itself (nn.Linear: "
    "U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, as kaiming_uniform(a=sqrt(5)) gives; "
    "nn.Embedding: N(0, 1); norms: ones/zeros) with one `torch.Generator` per tensor seeded from "
    "`(seed, tensor index)`, filled on a thread pool of `torch.get_num_threads()` workers (the fills "
    "release the GIL), falling back to `reset_parameters` for other modules: deterministic per seed, "
    "about 1/threads of the fill time (about 0.4x transformers on 2 cores, lower with more cores). "
    "Separately, the first build in a fresh process (table below) is 6x the guide's: that is the "
    "meta-device `normal_` importing torch._dynamo, see the memory note and fix (1) there."
)

ANALYSIS: dict[str, str] = {
    "build-seed": _BUILD_SEED,
    "build-gpt2": _BUILD,
    "validate": (
        "Cause: start-up imports, not validation. Loading and validating `specs/seed.yaml` itself takes a few "
        "ms (binding the registry's components ~40 ms); the rest is starting Python and importing the CLI "
        "stack. `python -c \"import typer, rich.console, pydantic, yaml, pluggy, importlib.metadata\"` "
        "alone takes 0.23-0.28 s wall on this machine (medians of 5, idle), so the absolute goal leaves almost nothing for "
        "blockforge itself. Already done: parameter models defer their pydantic schema (`defer_build`) and "
        "field docstrings are read on demand instead of at import (`Params.model_config`, "
        "`spec.params.field_docs`), which took `validate` from 0.85 s to 0.57 s wall in a probe; meta "
        "construction no longer imports torch._dynamo (that was `build`/`summary`, not `validate`). "
        "What would close the rest: (1) import the CLI command modules lazily (a typer group that imports "
        "a command's module when it is invoked), so `validate` skips `components`' and the other commands' "
        "imports; (2) create rich consoles on first print; (3) the ~40 built-in parameter classes still "
        "cost ~3 ms each to create with pydantic: registering them lazily (by import path, created on "
        "first use) would remove that for specs that name few components. The ratio goal (< 0.35x "
        "`import torch`) is met."
    ),
    "rss": (
        "Cause (found with VmRSS probes around each step, then confirmed by patching a copy of src/): "
        "(a) building on the meta device runs the components' `reset_parameters`, and `normal_` (nn.Embedding, "
        "LearnedPositionalEmbedding) has no C++ meta kernel: torch runs the Python reference "
        "`torch._refs.normal`, whose `_disable_dynamo` wrapper imports torch._dynamo, torch._inductor, "
        "torch.onnx and sympy on first use: 822 modules, about 75 MiB of RSS and several seconds, once per "
        "process (it also makes the first `blockforge build`/`summary` slow); (b) `nn.Module.to_empty` uses "
        "`torch.empty_like(meta_tensor, device=...)`, which with the default `preserve_format` touches part "
        "of each new CPU tensor and raises the peak by about 34 MiB for the seed model. What would close it, "
        "both in `src/blockforge/build.py`, `_materialize`: (1) construct under a small "
        "`torch.overrides.TorchFunctionMode` that returns meta tensors unchanged from `torch.nn.init.*` and "
        "`Tensor.normal_/uniform_` (the builder initialises every tensor once after materialising, so "
        "nothing is lost): peak 501 -> 464 MiB, first seed build 17.4 s -> 8.9 s (one probe each, heavily loaded machine), "
        "330 fewer modules imported; "
        "(2) materialise with `model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))` "
        "instead of `model.to_empty(device=device)`: 464 -> 430 MiB. Together: build peak = `import torch` "
        "baseline + 1.11x the parameter bytes (goal 1.2x) in the probe."
    ),
    "train": (
        "Cause: not established; the difference is inside the run-to-run spread. Two earlier full runs on "
        "the idle machine with 3 repetitions put blockforge's training step at 0.73x and at 1.03x "
        "transformers (fastest runs 6.86 s vs 8.23 s and 7.05 s vs 8.29 s), which is why this suite now "
        "takes 7. blockforge and transformers run the same GEMMs and the same CPU flash-attention "
        "kernel; blockforge's fused `qkv` is one GEMM where transformers' Conv1D `c_attn` is one `addmm` "
        "too. What would settle it: more repetitions on an otherwise idle machine, then, if a gap "
        "remains, `torch.profiler` traces of one step of each (same weights) for extra copies in "
        "`components/attention.py` or the loss."
    ),
    "infer": (
        "Cause: none found; blockforge is at parity with transformers, not ahead of it. On an idle machine "
        "(load average ~1) the three models' runs overlap (see min-max in the table) and the hand-written "
        "model is no faster than blockforge, so there is no overhead to remove: all three run the same "
        "GEMMs (the LM head alone is ~30% of the FLOPs) and the same CPU flash-attention kernel with "
        "`is_causal=True`. In the first full run, on a heavily loaded machine, blockforge was 0.99x "
        "as well. What would close it: doing less work than transformers, e.g. computing logits only for "
        "the positions a caller needs (generation needs the last one), or a lower-precision or compiled "
        "path; each changes what is compared, so it is left to a later issue."
    ),
    "generate-1": _GENERATE,
    "generate-8": _GENERATE,
    "summary-70b": (
        "`summarize` builds on meta, then runs a probe forward at the spec's full max_len. If it is slow, "
        "see the memory note: the first meta `normal_` imports torch._dynamo (seconds) unless construction "
        "skips initialisation on meta."
    ),
}

"""Why a goal is missed and what would close it: written after profiling, printed for missed goals.

Measured with cProfile, ``-X importtime``, ``/proc/self/status`` (VmRSS/VmHWM) probes and patched copies
of ``src/`` outside the repository (the fixes below were tried that way; ``src/`` itself is not changed
by this issue). Where a figure below comes from a separate probe rather than this report's run, it says so.
"""

from __future__ import annotations

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
        "ms; the rest is importing the CLI stack. `-X importtime` of `blockforge validate specs/seed.yaml` "
        "(separate probe): blockforge's own modules 24% of import self-time (pydantic builds a core schema "
        "and, with `use_attribute_docstrings=True`, reads and tokenises the source of every `Params` class "
        "at import, although validation only uses the bound union built later by `spec.binding.bind`), "
        "pydantic + pydantic_core 16%, typer 10%, rich 8%, PyYAML 5%, `email`/`importlib.metadata` for "
        "entry-point discovery 3%. `python -c \"import typer, rich.console, pydantic.main, yaml\"` alone "
        "costs 0.12x `import torch` on this machine, so the ratio goal (< 0.35x) is within reach; "
        "the absolute goal (< 0.3 s) cannot hold on a 2-core machine that is this loaded (the report's "
        "load average), where even that import floor takes several hundred ms. What would close it: "
        "(1) `src/blockforge/spec/params.py`, `Params.model_config`: add `defer_build=True`, so the 30-odd "
        "parameter models do not build a core schema at import that `bind` rebuilds anyway (separate probe"
        " on the loaded machine, 3 interleaved runs each: 4.91 s -> 4.57 s, -7%, together with (2)); (2) keep the attribute docstrings but stop extracting them at "
        "import: set `use_attribute_docstrings=False` and have `components`/`schema` read them on demand "
        "(a small `ast` pass over the class source, cached), since only those commands show descriptions; "
        "(3) `src/blockforge/cli/_app.py`: create the rich `Console` lazily (first print) instead of at "
        "import; (4) `src/blockforge/cli/__init__.py`: import command modules lazily (typer `Typer` with a "
        "lazy group), so `validate` does not import `components`' dependencies. Expected: (1)-(4) bring "
        "`validate` to roughly the typer + pydantic import floor plus ~50 ms."
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
        "Not analysed: the goal was met in the runs made while writing this. If it is missed, compare the "
        "three models' profiles (`torch.profiler`) for the attention kernel chosen and for extra copies."
    ),
    "infer": (
        "Cause: not established; on the shared 2-core machine the measurement cannot separate the models. "
        "In the first full run (load average 3-7, CPU pressure 99%) the inference runs of blockforge "
        "(23.6-29.2 s) and transformers (21.0-26.4 s) overlapped, the 2048^3 sgemm reached only 17 GFLOP/s "
        "of a 157 GFLOP/s peak, blockforge was 0.75x transformers for the training step and the "
        "hand-written model 0.87x for inference. Compare the spreads in the table below. The structural differences between blockforge and the hand-written model are "
        "small: blockforge's `MultiHeadAttention.forward` feeds SDPA q/k/v as strided views of one "
        "(B, T, 3, H, D) tensor (`permute(2, 0, 3, 1, 4).unbind(0)`), nanoGPT as views of `split` + "
        "`transpose`; both reach the same CPU flash kernel with `is_causal=True`. What would close it: "
        "rerun `python3 dev.py bench --only speed` on an idle machine; if blockforge still trails the "
        "hand-written model, compare `torch.profiler` traces of one forward of each (same weights) for "
        "extra `contiguous`/copy kernels in `components/attention.py`."
    ),
    "summary-70b": (
        "`summarize` builds on meta, then runs a probe forward at the spec's full max_len. If it is slow, "
        "see the memory note: the first meta `normal_` imports torch._dynamo (seconds) unless construction "
        "skips initialisation on meta."
    ),
}

"""Generation speed: greedy tokens per second of the compiled gpt2-small, side by side with transformers'
``generate`` on the same weights (the transformers model is imported into blockforge).

Batch 1 and batch 8, a 32-token prompt, 128 new tokens (no end-of-sequence: every run makes all of them),
float32, ``torch.no_grad``/``inference_mode``. Variants of blockforge: the default dynamic cache, a static
(preallocated) cache, and the dynamic cache with the model under ``torch.compile(dynamic=True)``.
Each case checks once that its tokens equal transformers' before it is timed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from benchmarks import models
from benchmarks.timing import Figure, interleaved

SECTION = "Generation speed"
PROMPT, NEW = 32, 128


def run(*, smoke: bool, reps: int, compile_model: bool = True) -> tuple[list[Figure], dict[str, str]]:
    """Measure; returns the figures and notes for the report (needs transformers; none without it)."""
    if not models.have_transformers():
        return [], {"generation": "transformers is not installed: no generation comparison"}
    from blockforge.generation import generate
    from blockforge.interop import from_hf_model

    spec = models.load_yaml(models.SPECS / "gpt2-small.yaml")
    if smoke:
        spec = models.shrink(spec, max_len=64)
    sizes = models.Sizes.of(spec)
    new = 4 if smoke else NEW
    torch.manual_seed(0)
    hf = models.hf_gpt2(sizes).eval()
    bf = from_hf_model(hf).eval()
    compiled = torch.compile(bf, dynamic=True) if compile_model and not smoke else None
    if compiled is not None:  # generate reads these from the model it is given
        for attr in ("max_len", "cache_blocks", "new_cache"):
            setattr(compiled, attr, getattr(bf, attr))
    figures: list[Figure] = []
    anchor = "transformers generate"
    for batch in (1, 8):
        g = torch.Generator().manual_seed(batch)
        ids = torch.randint(0, sizes.vocab_size, (batch, PROMPT), generator=g)
        mask = torch.ones_like(ids)

        def hf_generate(ids=ids, mask=mask) -> torch.Tensor:
            with torch.inference_mode():
                return hf.generate(ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
                                   do_sample=False, pad_token_id=0, eos_token_id=None)

        cases: dict[str, Callable[[], torch.Tensor]] = {
            anchor: hf_generate,
            "blockforge generate (dynamic cache)": lambda ids=ids, mask=mask: generate(bf, ids, mask,
                                                                                       max_new_tokens=new),
            "blockforge generate (static cache)": lambda ids=ids, mask=mask: generate(
                bf, ids, mask, max_new_tokens=new, cache_implementation="static"),
        }
        if compiled is not None:
            cases["blockforge generate + torch.compile"] = lambda ids=ids, mask=mask: generate(
                compiled, ids, mask, max_new_tokens=new)
        want = hf_generate()
        for name, fn in cases.items():  # warm-up (compiles) and a correctness check
            got = fn()
            if not torch.equal(got, want):
                raise AssertionError(f"{name}: tokens differ from transformers' at batch {batch}")
        times = interleaved(cases, reps=reps, warmup=0)
        for name, runs in times.items():
            f = Figure(SECTION, f"batch {batch}: {name}", runs,
                       anchor=None if name == anchor else f"batch {batch}: {anchor}")
            f.extra = {"tokens/s": f"{batch * new / f.median:.1f}"}
            figures.append(f)
    notes = {"generation": f"gpt2-small{' (shrunk)' if smoke else ''}, {PROMPT}-token prompt, {new} new tokens, "
                           f"greedy, float32, {torch.get_num_threads()} threads, {reps} timed runs after a "
                           "warm-up that also checks the tokens equal transformers'"}
    return figures, notes

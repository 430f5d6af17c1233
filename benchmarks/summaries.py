"""Summary and diff latency: ``blockforge summary SPEC`` for every spec in ``specs/`` (the hybrid LSTM spec
also at ``max_len`` 2048) and ``blockforge diff`` of two specs, against ``python -c "import torch"``. Each
command runs as a fresh subprocess with its default text output (what a user pays), round-robin. The goals
are absolute margins over the anchor: a summary pays for the probe it runs and nothing it does not use
(no ``torch._dynamo``), a diff for two meta builds (no FLOP probe)."""

from __future__ import annotations

import re
import sys
from importlib import metadata

from benchmarks import models
from benchmarks.commands import _runner, blockforge_cmd
from benchmarks.timing import Figure, interleaved

SECTION = "Summary and diff latency"
ANCHOR = 'python -c "import torch" (this section\'s anchor)'
SUMMARY_MARGIN_S = 1.0
DIFF_MARGIN_S = 0.5
#: The long-sequence case of the issue (a recurrent stack summarised at max_len 2048).
LONG = ("hybrid-lstm-attention.yaml", "model.max_len=2048")
DIFF = ("tiny.yaml", "hybrid-lstm-attention.yaml")


def summary_name(spec: str, override: str | None = None) -> str:
    return f"blockforge summary specs/{spec}" + (f" --set {override}" if override else "")


def diff_name() -> str:
    return f"blockforge diff specs/{DIFF[0]} specs/{DIFF[1]}"


def _runnable(path) -> bool:  # noqa: ANN001
    """A spec whose ``# requires-plugins:`` are installed (the example plugins may not be)."""
    found = re.search(r"^#\s*requires-plugins:(.*)$", path.read_text(), flags=re.MULTILINE)
    needed = {n.strip() for n in found.group(1).split(",") if n.strip()} if found else set()
    return needed <= {ep.name for ep in metadata.entry_points(group="blockforge")}


def run(*, reps: int, warmup: int = 1, smoke: bool = False) -> list[Figure]:
    """Time the summaries (every spec; in a smoke run only ``tiny.yaml`` and the long case) and one diff."""
    bf = blockforge_cmd()
    specs = sorted(p.name for p in (models.ROOT / "specs").glob("*.yaml") if _runnable(p))
    if smoke:
        specs = ["tiny.yaml"]
    cases = {ANCHOR: _runner([sys.executable, "-c", "import torch"])}
    for spec in specs:
        cases[summary_name(spec)] = _runner([*bf, "summary", f"specs/{spec}"])
    cases[summary_name(*LONG)] = _runner([*bf, "summary", f"specs/{LONG[0]}", "--set", LONG[1]])
    cases[diff_name()] = _runner([*bf, "diff", *(f"specs/{s}" for s in DIFF)])
    times = interleaved(cases, reps=reps, warmup=warmup)
    return [Figure(SECTION, n, t, anchor=ANCHOR if n != ANCHOR else None) for n, t in times.items()]

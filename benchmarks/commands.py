"""Command latency: ``blockforge validate`` and ``blockforge components`` against ``python -c "import torch"``.

Each command runs as a fresh subprocess (what a user or an editor hook pays), round-robin, several times.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import models
from benchmarks.timing import Figure, interleaved

SECTION = "Command latency"
ANCHOR = 'python -c "import torch"'


def blockforge_cmd() -> list[str]:
    """The console script next to this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "blockforge"
    if script.exists():
        return [str(script)]
    found = shutil.which("blockforge")
    if found:
        return [found]
    return [sys.executable, "-c", "from blockforge.cli import main; main()"]


def _runner(cmd: list[str]):
    def run() -> None:
        proc = subprocess.run(cmd, cwd=models.ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return run


def run(*, reps: int, warmup: int = 1) -> list[Figure]:
    bf = blockforge_cmd()
    cases = {
        ANCHOR: _runner([sys.executable, "-c", "import torch"]),
        "blockforge validate specs/seed.yaml": _runner([*bf, "validate", "specs/seed.yaml"]),
        "blockforge components": _runner([*bf, "components"]),
        'python -c "pass" (interpreter start, for scale)': _runner([sys.executable, "-c", "pass"]),
    }
    times = interleaved(cases, reps=reps, warmup=warmup)
    return [Figure(SECTION, n, t, anchor=ANCHOR if n != ANCHOR else None) for n, t in times.items()]

"""``metrics.jsonl`` (one JSON object per logged step) and the loss curve drawn from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blockforge._io import write_text_atomic

METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "loss-curve.png"


class MetricsLog:
    """Appends one JSON line per record; on resume, lines past the resumed step are dropped first, so a
    resumed run's file reads as an uninterrupted run's.

    Args:
        run_dir: the run directory.
        resume_step: the step a resumed run continues from, or None for a new run (the file is replaced).
    """

    def __init__(self, run_dir: Path, *, resume_step: int | None) -> None:
        self.path = run_dir / METRICS_FILE
        kept: list[str] = []
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= resume_step:
                        kept.append(line)
                except ValueError:
                    continue
        # a resumed run drops what was logged past its checkpoint; replaced whole, never left half-written
        write_text_atomic(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (flushed at once, so a crash keeps what was logged)."""
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl``."""
    path = Path(run_dir) / METRICS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_loss_curve(run_dir: Path) -> Path | None:
    """Draw training (and validation) loss against the step into ``loss-curve.png``.

    Uses matplotlib (the ``train`` extra) with its non-interactive Agg backend.

    Args:
        run_dir: the run directory with its ``metrics.jsonl``.

    Returns:
        The PNG's path, or None when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from blockforge._io import atomic_path

    records = read_metrics(run_dir)
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    if train:
        ax.plot(*zip(*train), label="training loss", linewidth=1.2)
    if val:
        ax.plot(*zip(*val), "o-", label="validation loss", linewidth=1.2, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(Path(run_dir).name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(run_dir) / CURVE_FILE
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out

"""Rich renderings of a :class:`blockforge.inspect.Summary`. Torch-free."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from blockforge.inspect import Summary


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def summary_table(s: Summary, *, depth: int = 3) -> Table:
    """The module tree down to ``depth``: name, type, output shape, parameters."""
    title = f"{s.name or 'model'}  input {tuple(s.input_shape)}"
    table = Table(title=title, title_justify="left")
    table.add_column("module", no_wrap=True)
    table.add_column("type", style="cyan")
    table.add_column("output shape", style="green")
    table.add_column("params", justify="right")
    for r in s.rows:
        if r.depth > depth:
            continue
        label = "(model)" if not r.name else "  " * (r.depth - 1) + r.name.rsplit(".", 1)[-1]
        shape = str(tuple(r.output_shape)) if r.output_shape is not None else "-"
        table.add_row(label, r.type, shape, f"{r.params:,}" if r.params else "-")
    return table


def totals_table(s: Summary) -> Table:
    """Parameters, trainable parameters and bytes by dtype."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("total parameters", f"{s.total_params:,}")
    table.add_row("trainable parameters", f"{s.trainable_params:,}")
    for dtype, n in sorted(s.bytes_by_dtype.items()):
        table.add_row(f"parameter bytes ({dtype})", f"{n:,} ({human_bytes(n)})")
    if s.spec_hash:
        table.add_row("spec hash", s.spec_hash[:16])
    return table

"""Renderings of a :class:`blockforge.inspect.Summary`: rich table, rich tree, markdown, comparisons.

Torch-free: everything here reads the plain statistics object (JSON is ``Summary.to_dict()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.tree import Tree

if TYPE_CHECKING:
    from blockforge.inspect import ModuleRow, Summary
    from blockforge.inspect.parallel import ParallelPlan


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_count(n: float, unit: str = "") -> str:
    """``human_count(1.5e12, "FLOPs")`` -> ``1.50 TFLOPs`` (decimal prefixes, as FLOPs are quoted)."""
    for prefix in ("", "K", "M", "G", "T", "P", "E"):
        if abs(n) < 1000 or prefix == "E":
            return (f"{n:.0f} {unit}" if not prefix else f"{n:.2f} {prefix}{unit}").strip()
        n /= 1000
    raise AssertionError("unreachable")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _subtree_key(rows: Sequence[ModuleRow], i: int) -> tuple[tuple[object, ...], int]:
    """What makes two sibling subtrees display alike (relative names, types, shapes, counts), and where
    the subtree of ``rows[i]`` ends."""
    root = rows[i]
    prefix = root.name + "."
    key = [(root.type, tuple(root.output_shape or ()), root.params, root.flops)]
    j = i + 1
    while j < len(rows) and rows[j].name.startswith(prefix):
        r = rows[j]
        key.append((r.name[len(prefix):], r.type, tuple(r.output_shape or ()), r.params, r.flops))
        j += 1
    return tuple(key), j


def layer_keys(s: Summary, plan: object) -> dict[str, object]:
    """``{"blocks.3": key}``: each layer's resolved block (from a spec's resolved plan), so layers that
    measure alike but differ (a sliding window) are not shown as one. Stacks pair with the model's
    module lists in order."""
    lists = [r.name for r in s.rows if r.type == "ModuleList" and r.depth == 1]
    keys: dict[str, object] = {}
    for name, stack in zip(lists, getattr(plan, "stacks", ()), strict=False):
        for layer in stack.layers:
            keys[f"{name}.{layer.index}"] = repr(sorted(layer.params.items()))
    return keys


def _visible(s: Summary, depth: int, *, expand: bool = False,
             keys: dict[str, object] | None = None) -> list[tuple[str, ModuleRow]]:
    """The rows shown down to ``depth``: ``Identity`` rows left out and, unless ``expand``, identical
    numbered siblings (``blocks.0`` ... ``blocks.31``) collapsed into one row ``0–31 × 32`` (the group's
    parameters and FLOPs in total) followed by the rows of its first member (one layer's).

    Returns:
        ``(label, row)`` pairs: the label is the row's last name segment, or the group's ``0–31 × 32``.
    """
    from blockforge.figure import layers_text

    rows = [r for r in s.rows if r.type != "Identity"]
    shown: list[tuple[str, ModuleRow]] = []
    groups: dict[str, list[int]] = {}  # first member's name -> indices of the members
    hidden: set[str] = set()
    if not expand:
        by_parent: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            parent, _, last = r.name.rpartition(".")
            if r.name and last.isdigit():
                by_parent.setdefault(parent, []).append(i)
        for members in by_parent.values():
            alike: dict[tuple[object, ...], list[int]] = {}
            for i in members:
                extra = (keys or {}).get(rows[i].name)
                alike.setdefault((_subtree_key(rows, i)[0], extra), []).append(i)
            for same in alike.values():
                if len(same) > 1:
                    groups[rows[same[0]].name] = same
                    hidden.update(rows[i].name for i in same[1:])
    for r in rows:
        if r.depth > depth or any(r.name == h or r.name.startswith(h + ".") for h in hidden):
            continue
        label = r.name.rsplit(".", 1)[-1] if r.name else "(model)"
        same = groups.get(r.name)
        if same is not None:
            indices = [int(rows[i].name.rpartition(".")[2]) for i in same]
            label = f"{layers_text(indices)} × {len(same)}"
            r = replace(r, params=r.params * len(same), trainable=r.trainable * len(same),
                        flops=r.flops * len(same))
        shown.append((label, r))
    return shown


def _shape(r: ModuleRow) -> str:
    return str(tuple(r.output_shape)) if r.output_shape is not None else "-"


def _title(s: Summary) -> str:
    return f"{s.name or 'model'}  input (batch, seq_len) = {tuple(s.input_shape)}"


def summary_table(s: Summary, *, depth: int = 3, expand: bool = False, keys: dict[str, object] | None = None) -> Table:
    """The module tree down to ``depth``: name, type, output shape, parameters, forward FLOPs.

    Identical numbered layers are one row unless ``expand`` (see :func:`_visible`); type names, shapes and
    numbers are never broken across lines (a long module name wraps instead).
    """
    table = Table(title=_title(s), title_justify="left", show_edge=False, pad_edge=False)
    rows = [
        (" " * max(r.depth - 1, 0) + label if r.name else label, r.type, _shape(r),
         f"{r.params:,}" if r.params else "-", human_count(r.flops) if r.flops else "-")
        for label, r in _visible(s, depth, expand=expand, keys=keys)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    table.add_column("module", overflow="fold", min_width=min(widths[0], 16))
    table.add_column("type", style="cyan", no_wrap=True, min_width=widths[1])
    table.add_column("output shape", style="green", min_width=widths[2], no_wrap=True)
    table.add_column("params", justify="right", min_width=widths[3], no_wrap=True)
    table.add_column("fwd FLOPs", justify="right", min_width=widths[4], no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def summary_tree(s: Summary, *, depth: int = 3, expand: bool = False, keys: dict[str, object] | None = None) -> Tree:
    """The module tree down to ``depth`` as a rich tree (identical layers collapsed unless ``expand``)."""
    def label(text: str, r: ModuleRow) -> str:
        name = text if r.name else (s.name or "model")
        parts = [f"[bold]{name}[/] [cyan]{r.type}[/]", f"[green]{_shape(r)}[/]"]
        if r.params:
            parts.append(f"{r.params:,} params")
        if r.flops:
            parts.append(human_count(r.flops, "FLOPs"))
        return "  ".join(parts)

    rows = _visible(s, depth, expand=expand, keys=keys)
    root = Tree(label(*rows[0]))
    nodes = {rows[0][1].name: root}
    for text, r in rows[1:]:
        parent = r.name.rsplit(".", 1)[0] if "." in r.name else ""
        nodes[r.name] = nodes.get(parent, root).add(label(text, r))
    return root


def kinds_table(s: Summary) -> Table:
    """Per-kind totals: where the parameters and the forward FLOPs go."""
    table = Table(title="by kind", title_justify="left")
    table.add_column("kind", style="magenta")
    table.add_column("params", justify="right")
    table.add_column("% params", justify="right")
    table.add_column("fwd FLOPs", justify="right")
    table.add_column("% FLOPs", justify="right")
    fwd = s.flops.forward if s.flops else 0
    for kind, t in s.kinds.items():
        table.add_row(kind, f"{t.params:,}", _pct(t.params, s.total_params), human_count(t.flops),
                      _pct(t.flops, fwd))
    return table


def _totals(s: Summary) -> list[tuple[str, str]]:
    rows = [("total parameters", f"{s.total_params:,}"), ("trainable parameters", f"{s.trainable_params:,}")]
    rows += [(f"parameter bytes ({d})", f"{n:,} ({human_bytes(n)})") for d, n in sorted(s.bytes_by_dtype.items())]
    if s.flops:
        f = s.flops
        rows += [
            ("forward FLOPs", f"{human_count(f.forward, 'FLOPs')} ({human_count(f.forward_macs, 'MACs')})"),
            ("forward + backward FLOPs", human_count(f.forward_backward, "FLOPs")),
            ("FLOPs per token (fwd / fwd+bwd)",
             f"{human_count(f.forward_per_token)} / {human_count(f.forward_backward_per_token)}"),
        ]
    if s.memory:
        m = s.memory
        if m.kv_cache_per_token is not None:
            rows.append(("KV cache per token", f"{m.kv_cache_per_token:,} B ({human_bytes(m.kv_cache_per_token)})"))
        rows += [
            ("training: weights (+ buffers)", human_bytes(m.weights + m.buffers)),
            ("training: gradients", human_bytes(m.gradients)),
            ("training: AdamW state", human_bytes(m.optimizer)),
            (f"training: activations at {tuple(s.input_shape)}", human_bytes(m.activations)),
            ("training: total", human_bytes(m.training)),
        ]
    if s.spec_hash:
        rows.append(("spec hash", s.spec_hash[:16]))
    return rows


def totals_table(s: Summary) -> Table:
    """Parameters, bytes by dtype, FLOPs (with MACs), KV cache and the training footprint."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    for k, v in _totals(s):
        table.add_row(k, v)
    return table


def conventions(s: Summary) -> list[str]:
    """The counting conventions the numbers follow."""
    notes = []
    if s.flops:
        notes += [s.flops.convention, s.flops.attention_convention]
    if s.memory:
        notes.append(s.memory.convention)
    return notes


def summary_renderable(s: Summary, *, depth: int = 3, view: str = "table", expand: bool = False,
                       keys: dict[str, object] | None = None) -> Group:
    """Everything for the terminal: the tree (``table`` or ``tree`` view), per-kind totals, totals, notes."""
    tree = (summary_tree(s, depth=depth, expand=expand, keys=keys) if view == "tree"
            else summary_table(s, depth=depth, expand=expand, keys=keys))
    notes = Table(show_header=False, box=None, padding=(0, 1))
    notes.add_column(style="dim")
    for n in conventions(s):
        notes.add_row(f"* {n}")
    return Group(tree, kinds_table(s), totals_table(s), notes)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines


def summary_markdown(s: Summary, *, depth: int = 3, expand: bool = False,
                     keys: dict[str, object] | None = None) -> str:
    """A markdown report: the module table, per-kind totals, totals and conventions."""
    lines = [f"## {s.name or 'model'}", "", f"Probe input (batch, seq_len) = {tuple(s.input_shape)}.", ""]
    lines += _md_table(
        ["module", "type", "kind", "output shape", "params", "fwd FLOPs"],
        [["&nbsp;" * 2 * max(r.depth - 1, 0) + label, r.type, r.kind or "", _shape(r), f"{r.params:,}",
          human_count(r.flops)] for label, r in _visible(s, depth, expand=expand, keys=keys)],
        right=(4, 5),
    )
    fwd = s.flops.forward if s.flops else 0
    lines += ["", "### By kind", ""]
    lines += _md_table(
        ["kind", "params", "% params", "fwd FLOPs", "% FLOPs"],
        [[k, f"{t.params:,}", _pct(t.params, s.total_params), human_count(t.flops), _pct(t.flops, fwd)]
         for k, t in s.kinds.items()],
        right=(1, 2, 3, 4),
    )
    lines += ["", "### Totals", ""]
    lines += _md_table(["", "value"], _totals(s), right=(1,))
    lines += ["", "### Conventions", "", *[f"- {n}" for n in conventions(s)], ""]
    return "\n".join(lines)


def compare_rows(summaries: Sequence[Summary]) -> list[tuple[str, list[str]]]:
    """The compared quantities, one row each, one column per summary."""
    def per(fn) -> list[str]:  # noqa: ANN001
        return [fn(s) for s in summaries]

    def kv(s: Summary) -> str:
        n = s.memory.kv_cache_per_token if s.memory else None
        return "-" if n is None else human_bytes(n)

    return [
        ("parameters", per(lambda s: f"{s.total_params:,}")),
        ("parameter bytes", per(lambda s: human_bytes(s.total_bytes))),
        ("fwd FLOPs / token", per(lambda s: human_count(s.flops.forward_per_token))),
        ("fwd+bwd FLOPs / token", per(lambda s: human_count(s.flops.forward_backward_per_token))),
        ("KV cache / token", per(kv)),
        ("activations", per(lambda s: human_bytes(s.memory.activations))),
        ("training memory", per(lambda s: human_bytes(s.memory.training))),
    ]


def compare_table(summaries: Sequence[Summary], labels: Sequence[str] | None = None) -> Table:
    """Several summaries side by side (same batch and sequence length), one column each, headed by
    ``labels`` (default: the specs' names)."""
    shape = tuple(summaries[0].input_shape)
    table = Table(title=f"comparison at (batch, seq_len) = {shape}", title_justify="left")
    table.add_column("", style="bold")
    from rich.markup import escape

    for label in labels or [s.name or "model" for s in summaries]:
        table.add_column(escape(label), justify="right")  # a label such as "tiny [n_layers=4]" is not markup
    for label, cells in compare_rows(summaries):
        table.add_row(label, *cells)
    return table


def compare_markdown(summaries: Sequence[Summary], labels: Sequence[str] | None = None) -> str:
    """Markdown of :func:`compare_table`."""
    shape = tuple(summaries[0].input_shape)
    lines = [f"Comparison at (batch, seq_len) = {shape}.", ""]
    lines += _md_table(["", *(labels or [s.name or "model" for s in summaries])],
                       [[label, *cells] for label, cells in compare_rows(summaries)],
                       right=tuple(range(1, len(summaries) + 1)))
    return "\n".join([*lines, ""])


__all__ = [
    "compare_markdown", "compare_table", "human_bytes", "human_count", "kinds_table", "layer_keys", "summary_markdown",
    "summary_renderable", "summary_table", "summary_tree", "totals_table",
]


def parallel_rows(p: ParallelPlan) -> list[tuple[str, str]]:
    """One rank's memory and traffic under ``p`` (see :mod:`blockforge.inspect.parallel`)."""
    shard = "shard" if p.strategy == "fsdp" else "replica"
    rows = [
        ("parameters (psi)", f"{p.params:,}"),
        (f"weights ({shard})", human_bytes(p.weights)),
        (f"gradients ({shard})", human_bytes(p.gradients)),
        (f"AdamW state ({shard})", human_bytes(p.optimizer)),
    ]
    if p.strategy == "fsdp":
        rows.append((f"gathered units ({p.param_dtype}, largest {p.largest_unit:,} params)", human_bytes(p.gathered)))
    rows += [
        ("buffers", human_bytes(p.buffers)),
        (f"activations at micro-batch {p.micro_batch} x {p.seq_len}"
         + (" (checkpointed per block)" if p.activation_checkpointing else ""), human_bytes(p.activations)),
        ("total per rank", human_bytes(p.total)),
        (f"sent per rank per step ({p.accumulation} micro-batch{'es' if p.accumulation > 1 else ''})",
         human_bytes(p.sent_per_step)),
    ]
    return rows


def _parallel_title(p: ParallelPlan) -> str:
    extra = f", reshard_after_forward={str(p.reshard_after_forward).lower()}" if p.strategy == "fsdp" else ""
    return f"per rank at {p.strategy}:{p.world_size}{extra}"


def parallel_renderable(p: ParallelPlan) -> Group:
    """The per-rank plan for the terminal, with its accounting convention."""
    table = Table(title=_parallel_title(p), show_header=False, box=None, padding=(0, 2), title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for k, v in parallel_rows(p):
        table.add_row(k, v)
    notes = Table(show_header=False, box=None, padding=(0, 1))
    notes.add_column(style="dim")
    notes.add_row(f"* {p.convention}")
    return Group(table, notes)


def parallel_markdown(p: ParallelPlan) -> str:
    """The per-rank plan as a markdown section."""
    lines = [f"### {_parallel_title(p)}", ""]
    lines += _md_table(["", "value"], parallel_rows(p), right=(1,))
    return "\n".join([*lines, "", f"- {p.convention}", ""])

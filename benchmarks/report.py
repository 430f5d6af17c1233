"""Markdown rendering of the figures, and the goals the report checks (CI never fails on them)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from benchmarks import commands, generation, memory, summaries
from benchmarks.analysis import ANALYSIS
from benchmarks.timing import Figure, fmt_seconds


@dataclass
class Goal:
    key: str
    goal: str
    measured: str
    met: bool | None  # None: could not be checked in this run


def _value(f: Figure) -> str:
    return f"{f.median:.1f} MiB" if f.unit == "MiB" else fmt_seconds(f.median)


def _spread(f: Figure) -> str:
    if len(f.runs) == 1:
        return "-"
    lo, hi = min(f.runs), max(f.runs)
    return f"{lo:.1f}-{hi:.1f} MiB" if f.unit == "MiB" else f"{fmt_seconds(lo)}-{fmt_seconds(hi)}"


def _find(figures: list[Figure], name: str) -> Figure | None:
    return next((f for f in figures if f.name == name), None)


def _ratio(figures: list[Figure], f: Figure) -> float | None:
    a = _find(figures, f.anchor) if f.anchor else None
    return f.median / a.median if a else None


def goals(figures: list[Figure]) -> list[Goal]:
    out: list[Goal] = []

    def vs(key: str, goal: str, name: str, limit: float) -> None:
        f = _find(figures, name)
        r = _ratio(figures, f) if f else None
        if f is None or r is None:
            out.append(Goal(key, goal, "not measured (transformers not installed?)", None))
        else:
            out.append(Goal(key, goal, f"{_value(f)} = {r:.2f}x transformers ({_value(_find(figures, f.anchor))})",
                            r <= limit))

    bf_gpt2 = "blockforge (specs/gpt2-small.yaml)"
    vs("train", "training step <= 0.95x transformers", f"training step: {bf_gpt2}", 0.95)
    vs("infer", "inference forward <= 0.95x transformers", f"inference forward: {bf_gpt2}", 0.95)
    vs("build-seed", "seed build <= 0.5x transformers", "seed: blockforge build_model (specs/seed.yaml)", 0.5)
    vs("build-gpt2", "gpt2-small build <= 0.5x transformers",
       "gpt2-small: blockforge build_model (specs/gpt2-small.yaml)", 0.5)

    for batch in (1, 8):  # tokens/s >= 1.3x transformers' = time <= 1/1.3 of it
        vs(f"generate-{batch}", f"greedy generation, batch {batch}: >= 1.3x transformers' tokens/s (time <= 0.77x)",
           f"batch {batch}: blockforge generate (dynamic cache)", 1 / 1.3)

    v = _find(figures, "blockforge validate specs/seed.yaml")
    if v is not None:
        r = _ratio(figures, v)
        out.append(Goal("validate", "validate < 0.3 s and < 0.35x `import torch`",
                        f"{_value(v)} = {r:.2f}x `import torch` ({_value(_find(figures, commands.ANCHOR))})",
                        v.median < 0.3 and r is not None and r < 0.35))
    s70 = next((f for f in figures if f.name.startswith("70B") and "summarize" in f.name), None)
    if s70 is not None:
        out.append(Goal("summary-70b", "70B summary < 5 s", _value(s70), s70.median < 5.0))
    anchor = _find(figures, summaries.ANCHOR)
    slowest = max((f for f in figures if f.section == summaries.SECTION and f.name.startswith("blockforge summary")),
                  key=lambda f: f.median, default=None)
    if anchor is not None and slowest is not None:
        over = slowest.median - anchor.median
        out.append(Goal("summary-all", f"summary of every spec <= `import torch` + {summaries.SUMMARY_MARGIN_S:g} s",
                        f"slowest: {slowest.name.removeprefix('blockforge summary ')} {_value(slowest)} = `import torch` "
                        f"({_value(anchor)}) {over:+.2f} s", over <= summaries.SUMMARY_MARGIN_S))
    d = _find(figures, summaries.diff_name())
    if anchor is not None and d is not None:
        over = d.median - anchor.median
        out.append(Goal("diff", f"diff of two specs <= `import torch` + {summaries.DIFF_MARGIN_S:g} s",
                        f"{_value(d)} = `import torch` ({_value(anchor)}) {over:+.2f} s",
                        over <= summaries.DIFF_MARGIN_S))
    b = _find(figures, "blockforge build_model (specs/seed.yaml) on CPU")
    base = _find(figures, memory.BASELINE)
    if b is not None and base is not None:
        pbytes = float(b.extra["model bytes"].split()[0])
        over = b.median - base.median
        out.append(Goal("rss", "build peak RSS <= torch baseline + 1.2x parameter bytes",
                        f"{_value(b)} = baseline {_value(base)} + {over:.1f} MiB "
                        f"({over / pbytes:.2f}x the {pbytes:.1f} MiB of weights)",
                        b.median <= base.median + 1.2 * pbytes))
    return out


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def render(*, figures: list[Figure], machine: dict[str, str], notes: dict[str, str], reps: dict[str, int],
           smoke: bool, total_s: float, sections_s: dict[str, float], command: str) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# blockforge benchmarks",
        "",
        f"Generated by `{command}` (`python3 dev.py bench`) on {now}, in {total_s:.0f} s. "
        "Do not edit by hand; rerun the command.",
    ]
    if smoke:
        lines += ["", "**SMOKE RUN**: tiny sizes and one repetition; the numbers only show that the suite runs."]
    lines += [
        "",
        "Every figure is the median of several runs, interleaved round-robin with its alternatives (each "
        "round starts at a different case) after an untimed warm-up, and its ratio is to the anchor measured "
        "in the same run. Ratios below 1 mean blockforge is faster / smaller. The goals are checked and "
        "printed; CI never fails on a timing.",
        "",
        "## Machine",
        "",
        *_table([[k, v] for k, v in machine.items()], ["", ""]),
        "",
        "Repetitions: " + ", ".join(f"{k} {v}" for k, v in reps.items()) + ". Section wall times: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in sections_s.items()) + ".",
        "",
        "## Goals",
        "",
        *_table([[g.goal, g.measured, {True: "met", False: "**MISSED**", None: "not checked"}[g.met]]
                 for g in goals(figures)], ["goal", "measured", "result"]),
    ]
    missed = [g for g in goals(figures) if g.met is False]
    if missed and not smoke:
        lines += ["", "### Missed goals: why, and what would close them", ""]
        for g in missed:
            lines += [f"**{g.goal}** ({g.measured}).", "", ANALYSIS.get(g.key, "Not analysed yet."), ""]
    sections: dict[str, list[Figure]] = {}
    for f in figures:
        sections.setdefault(f.section, []).append(f)
    from benchmarks import build_time, model_speed

    intro = {
        model_speed.SECTION: model_speed.__doc__,
        build_time.SECTION_CPU: build_time.__doc__,
        build_time.SECTION_COLD: build_time.run_cold.__doc__,
        build_time.SECTION_META: "Building on the meta device allocates nothing; `summarize` also runs a "
        "probe forward on meta tensors at the spec's full max_len and tabulates every module. The "
        "transformers anchor only constructs LlamaForCausalLM (same sizes, gated MLP of equal parameter "
        "count) under `torch.device('meta')`.",
        commands.SECTION: commands.__doc__,
        summaries.SECTION: summaries.__doc__,
        memory.SECTION: memory.__doc__,
        generation.SECTION: generation.__doc__,
    }
    for sec, figs in sections.items():
        extra_cols = list(dict.fromkeys(k for f in figs for k in f.extra))
        rows = []
        for f in figs:
            r = _ratio(figures, f)
            rows.append([f.name, _value(f), _spread(f), str(len(f.runs)),
                         "anchor" if f.anchor is None else (f"{r:.2f}x" if r is not None else "-"),
                         *[f.extra.get(k, "") for k in extra_cols]])
        lines += ["", f"## {sec}", "", " ".join((intro.get(sec) or "").split()), ""]
        lines += _table(rows, ["measurement", "median", "min-max", "runs", "vs anchor", *extra_cols])
        mine = [k for k in notes if (k == "generation") == (sec == generation.SECTION)]
        if sec in (model_speed.SECTION, generation.SECTION) and mine:
            lines += [""] + [f"- {k}: {notes[k]}" for k in mine]
    return "\n".join(lines) + "\n"


def _blocks(text: str) -> tuple[str, dict[str, str]]:
    """A report's text before its first ``## `` heading, and each ``## `` section's text by heading."""
    head, *rest = text.split("\n## ")
    return head, {b.split("\n", 1)[0]: "## " + b for b in rest}


def _goal_rows(block: str) -> dict[str, str]:
    return {line.split(" | ")[0][2:]: line for line in block.splitlines() if line.startswith("| ")
            and not line.startswith(("| goal ", "|---"))}


def _missed(block: str) -> dict[str, str]:
    """The 'why missed' paragraphs of a Goals section, by goal."""
    if "### Missed goals" not in block:
        return {}
    body = "\n" + block.split("### Missed goals", 1)[1].split("\n", 1)[1]
    return {p.split("**")[0]: "**" + p.strip() for p in body.split("\n**") if p.strip()}


def splice(old: str, new: str, *, command: str, total_s: float) -> str:
    """The report ``old`` with the sections measured in ``new`` (a ``--only`` run) put in place.

    Sections of ``new`` other than Machine and Goals replace those of ``old`` (or are appended); goal rows
    that ``new`` checked replace ``old``'s, with their 'missed' analysis; a line under the title says which
    sections were rerun, when and under what load, since the machine table describes the full run.
    """
    old_head, old_blocks = _blocks(old)
    _, new_blocks = _blocks(new)
    rerun = [h for h in new_blocks if h not in ("Machine", "Goals")]
    rows, missed = _goal_rows(old_blocks.get("Goals", "")), _missed(old_blocks.get("Goals", ""))
    new_goals = new_blocks.get("Goals", "")
    new_missed = _missed(new_goals)
    for goal, row in _goal_rows(new_goals).items():
        if not row.endswith("| not checked |"):
            rows[goal] = row
            missed.pop(goal, None)
            if goal in new_missed:
                missed[goal] = new_missed[goal]
    goals = ["## Goals", "", "| goal | measured | result |", "|---|---|---|", *rows.values()]
    if missed:
        goals += ["", "### Missed goals: why, and what would close them", ""]
        goals += [p + "\n" for p in missed.values()]
    blocks = dict(old_blocks)
    blocks["Goals"] = "\n".join(goals) + "\n"
    for h in rerun:
        blocks[h] = new_blocks[h]
    machine = _goal_rows(new_blocks.get("Machine", ""))
    start, end = (machine.get(f"load average at {k} (1/5/15 min)", "| ?").split(" | ")[-1].rstrip(" |")
                  for k in ("start", "end"))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    note = (f"Section(s) {', '.join(rerun)} rerun by `{command}` on {now}, in {total_s:.0f} s "
            f"(load average 1/5/15 min at start {start}, at end {end}); the rest is from the run above.")
    paragraphs = [p for p in old_head.strip("\n").split("\n\n")
                  if not (p.startswith("Section(s) ") and all(h in p for h in rerun))]
    title_end = next(i for i, p in enumerate(paragraphs) if p.startswith("Generated by")) + 1
    head = "\n\n".join([*paragraphs[:title_end], note, *paragraphs[title_end:]])
    return head + "\n\n" + "\n".join(b.rstrip("\n") + "\n" for b in blocks.values())

"""``python -m benchmarks``: run every benchmark and write the markdown report.

    python -m benchmarks                       # full run (about 10 minutes on 2 cores); writes benchmarks/RESULTS.md
    python -m benchmarks --smoke --out X.md    # tiny sizes, one repetition (the test suite's smoke run)
    python -m benchmarks --only generation     # rerun some sections; their parts of RESULTS.md are replaced
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from benchmarks import build_time, commands, generation, memory, model_speed
from benchmarks.report import render, splice
from benchmarks.timing import machine

DEFAULT_OUT = Path(__file__).resolve().parent / "RESULTS.md"


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and one repetition (checks the suite runs)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report path (default {DEFAULT_OUT})")
    ap.add_argument("--threads", type=int, default=_threads(), help="torch.set_num_threads (default: usable cores)")
    ap.add_argument("--only", nargs="*", choices=["speed", "build", "cold", "meta", "commands", "memory", "generation"],
                    help="run only these sections")
    ap.add_argument("--reps", type=int, default=None,
                    help="timed repetitions of every section (default: each section's own, see below)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    smoke = args.smoke
    reps = {
        "speed": 1 if smoke else 7,  # 3 left the median inside a +-20% run-to-run spread on 2 cores
        "build": 1 if smoke else 5,
        "cold": 1 if smoke else 3,
        "meta": 1 if smoke else 3,
        "commands": 1 if smoke else 7,
        "memory": 1 if smoke else 3,
        "generation": 1 if smoke else 3,
    }
    if args.reps is not None:
        reps = dict.fromkeys(reps, max(1, args.reps))
    batch, seq = (2, 16) if smoke else (4, 256)
    only = set(args.only or reps)
    started = time.perf_counter()
    desc = machine()
    figures, notes, sections_s = [], {}, {}

    def section(key: str, fn):
        if key not in only:
            return
        print(f"[bench] {key} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        out = fn()
        sections_s[key] = time.perf_counter() - t0
        print(f"[bench] {key} done in {sections_s[key]:.1f} s", file=sys.stderr, flush=True)
        return out

    out = section("speed", lambda: model_speed.run(smoke=smoke, reps=reps["speed"], batch=batch, seq=seq))
    if out:
        figures += out[0]
        notes.update(out[1])
    figures += section("build", lambda: build_time.run_cpu(smoke=smoke, reps=reps["build"])) or []
    figures += section("cold", lambda: build_time.run_cold(smoke=smoke, reps=reps["cold"])) or []
    figures += section("meta", lambda: build_time.run_meta(smoke=smoke, reps=reps["meta"])) or []
    figures += section("commands", lambda: commands.run(reps=reps["commands"], warmup=0 if smoke else 1)) or []
    out = section("memory", lambda: memory.run(smoke=smoke, reps=reps["memory"]))
    if out:
        figures += out[0]
    out = section("generation", lambda: generation.run(smoke=smoke, reps=reps["generation"]))
    if out:
        figures += out[0]
        notes.update(out[1])
    desc["load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    total = time.perf_counter() - started
    command = " ".join(["python -m benchmarks", *(argv or sys.argv[1:])])
    text = render(figures=figures, machine=desc, notes=notes, reps=reps, smoke=smoke, total_s=total,
                  sections_s=sections_s, command=command)
    if args.only and not smoke and args.out.exists():  # a partial rerun updates its sections of the report
        text = splice(args.out.read_text(), text, command=command, total_s=total)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, args.out)
    print(text)
    print(f"[bench] wrote {args.out} in {total:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

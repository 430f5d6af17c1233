"""Interleaved timing, figures with anchors, and the machine description."""

from __future__ import annotations

import os
import platform
import sys
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One measured quantity, with its runs and its anchor (the alternative it is compared with).

    Attributes:
        section: report section the figure belongs to.
        name: what was measured.
        runs: the individual measurements (seconds, or bytes for memory figures).
        anchor: the name of the figure this one is compared with in the same run (None for an anchor).
        unit: ``s`` or ``MiB``.
        extra: further columns (parameter count, FLOP/s, ...), already formatted.
    """

    section: str
    name: str
    runs: list[float]
    anchor: str | None = None
    unit: str = "s"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def interleaved(
    cases: dict[str, Callable[[], object]], *, reps: int, warmup: int = 1, verbose: bool = True
) -> dict[str, list[float]]:
    """Time every case ``reps`` times, round-robin, so drifting machine load hits all of them alike.

    Each round starts at a different case (rotation), so no case is always first after a pause.

    Args:
        cases: name -> zero-argument callable to time.
        reps: timed rounds.
        warmup: untimed rounds run first (caches, lazy imports, allocator).
        verbose: print each measurement to stderr as it is taken (progress).

    Returns:
        name -> list of ``reps`` wall times in seconds.
    """
    names = list(cases)
    for _ in range(warmup):
        for n in names:
            cases[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            t0 = time.perf_counter()
            cases[n]()
            times[n].append(time.perf_counter() - t0)
            if verbose:
                print(f"[bench]   {n}: {times[n][-1]:.3f} s", file=sys.stderr, flush=True)
    return times


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return info


def _cpu_mhz(info: dict[str, str]) -> tuple[float | None, str]:
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read()) / 1000.0, "cpufreq max"
    except (OSError, ValueError):
        pass
    if "bogomips" in info:
        return float(info["bogomips"]) / 2.0, "BogoMIPS / 2 (the TSC rate; boost clocks may be higher)"
    if "cpu MHz" in info:
        return float(info["cpu MHz"]), "/proc/cpuinfo cpu MHz"
    return None, "unknown"


def peak_flops(threads: int) -> tuple[float | None, str]:
    """Estimate the float32 peak of ``threads`` cores: cores x clock x FLOP per cycle.

    FLOP per cycle assumes two FMA pipes of the widest vector unit the CPU advertises
    (AVX-512: 2x16 lanes x2; AVX2+FMA: 2x8 lanes x2 = 32; AVX: 16; otherwise 8).

    Returns:
        (FLOP/s or None, how it was estimated).
    """
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    if "avx512f" in flags:
        per_cycle, isa = 64, "AVX-512 (2 FMA x 16 lanes x 2)"
    elif {"avx2", "fma"} <= flags:
        per_cycle, isa = 32, "AVX2+FMA (2 FMA x 8 lanes x 2)"
    elif "avx" in flags:
        per_cycle, isa = 16, "AVX"
    else:
        per_cycle, isa = 8, "SSE (assumed)"
    mhz, how = _cpu_mhz(info)
    if mhz is None:
        return None, "no clock rate found"
    peak = threads * mhz * 1e6 * per_cycle
    return peak, f"{threads} cores x {mhz / 1000:.2f} GHz ({how}) x {per_cycle} FLOP/cycle, {isa}"


def machine() -> dict[str, str]:
    """The machine description printed at the top of the report."""
    import torch

    info = _cpuinfo()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    try:
        import transformers

        hf = transformers.__version__
    except ImportError:
        hf = "not installed (install the `hf` extra for the transformers comparisons)"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        mem = "unknown"
    try:
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        git = ""
    return {
        "CPU": info.get("model name", platform.processor() or "unknown"),
        "cores (usable / online)": f"{affinity} / {os.cpu_count()}",
        "memory": mem,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "torch": torch.__version__,
        "torch threads (set_num_threads)": str(torch.get_num_threads()),
        "transformers": hf,
        "blockforge commit": git or "unknown",
        "load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def fmt_seconds(s: float) -> str:
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"

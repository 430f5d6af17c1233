"""One statistics object per model; tables, trees, JSON and markdown are renderings of it.

Everything here runs on the meta device: no weights are allocated, so any size can be inspected.

| module     | what                                                                  |
|------------|-----------------------------------------------------------------------|
| ``stats``  | the :class:`Summary` object and its parts (torch-free)                |
| ``probe``  | one probed training step: shapes, FLOPs, saved tensors, KV cache      |
| ``kinds``  | which component kind each module counts towards                       |
| ``report`` | :func:`summarize`                                                     |
"""

from __future__ import annotations

from blockforge.inspect.report import summarize
from blockforge.inspect.stats import FlopStats, KindTotal, MemoryStats, ModuleRow, Summary

__all__ = ["FlopStats", "KindTotal", "MemoryStats", "ModuleRow", "Summary", "summarize"]

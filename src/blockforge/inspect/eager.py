"""Probe on the meta device without importing ``torch._dynamo``.

torch implements many meta kernels in Python (``torch._refs``: ``add``, ``mul``, ``tanh``, ... replace
the C++ ones on the meta device) and wraps each of them, and every ``TorchDispatchMode.__torch_dispatch__``
such as the FLOP counter's, in ``torch._disable_dynamo``: a wrapper that on its first call does
``import torch._dynamo`` to build ``torch._dynamo.disable(fn)`` and caches it on ``fn`` as
``fn.__dynamo_disable``. That import costs about as much as ``import torch`` itself (1.5 to 3.5 s on the
benchmark machine), and a summary compiles nothing.

:func:`eager_meta_kernels` gives each such function, for the duration of a probe, a pass-through in
place of that cache entry, and removes it afterwards. While ``torch._dynamo`` has not been imported no
frame-evaluation hook is installed, so calling ``fn`` directly is what ``torch._dynamo.disable(fn)``
would do; if it has been imported already, nothing is changed. After the probe, torch behaves exactly as
before (a later first call imports ``torch._dynamo`` as usual).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from types import FunctionType
from typing import Any

import torch._compile

#: The code object of torch's lazy wrapper (``torch._compile._disable_dynamo``'s ``inner``).
_LAZY_WRAPPER = torch._compile._disable_dynamo(lambda: None).__code__
_CACHE = "__dynamo_disable"


def _wrapped_of(wrapper: FunctionType) -> Callable[..., Any] | None:
    """The function a lazy wrapper wraps (its closure's ``fn``), or None if torch changed its shape."""
    cells = dict(zip(wrapper.__code__.co_freevars, wrapper.__closure__ or ()))
    cell = cells.get("fn")
    fn = cell.cell_contents if cell is not None else None
    return fn if callable(fn) and hasattr(fn, "__dict__") else None


@lru_cache(maxsize=1)
def _lazily_wrapped(n_modules: int) -> tuple[Callable[..., Any], ...]:
    """Every function that torch wrapped with ``_disable_dynamo`` so far (found once per set of loaded
    modules: ``n_modules`` is ``len(sys.modules)``, so new torch modules are scanned when they appear)."""
    found = []
    for obj in gc.get_objects():
        if type(obj) is FunctionType and obj.__code__ is _LAZY_WRAPPER:
            fn = _wrapped_of(obj)
            if fn is not None:
                found.append(fn)
    return tuple(found)


@contextmanager
def eager_meta_kernels() -> Iterator[None]:
    """Within this context, torch's dynamo-disabled Python kernels run without importing ``torch._dynamo``.

    See the module docstring. A no-op when ``torch._dynamo`` is already imported.
    """
    if "torch._dynamo" in sys.modules:
        yield
        return
    seeded = [fn for fn in _lazily_wrapped(len(sys.modules)) if _CACHE not in fn.__dict__]
    for fn in seeded:
        fn.__dict__[_CACHE] = fn
    try:
        yield
    finally:
        for fn in seeded:
            if fn.__dict__.get(_CACHE) is fn:
                del fn.__dict__[_CACHE]


__all__ = ["eager_meta_kernels"]

"""Spec -> plan -> nn.Module. The only place where registry, spec and torch meet.

Construction happens on the meta device (no memory, no initialisation); the model is then
materialised on the requested device and every parameter is initialised exactly once from the seed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn

from blockforge.errors import BlockforgeError, SpecError, SpecIssue
from blockforge.registry.context import BuildContext
from blockforge.registry.convention import CALLED_AS, convention_problem
from blockforge.registry.kinds import Kind
from blockforge.registry.plugins import is_real_interrupt
from blockforge.registry.registry import Registries
from blockforge.spec import SpecSource, canonical, load_spec, spec_hash


class BuildError(BlockforgeError, RuntimeError):
    """A valid spec could not be built (a factory failed, or the model does not fit)."""


def _factory_for(registries: Registries):
    def build_ref(ref: Any, ctx: BuildContext) -> nn.Module:
        kind = type(ref).__blockforge_kind__
        name = type(ref).__blockforge_name__
        if kind is None or name is None:
            raise BuildError(f"not a component reference: {ref!r}")
        comp = registries[kind].get(name)
        try:
            module = comp.factory(ref, ctx)
        except BlockforgeError:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit, a custom BaseException: the factory's
            if is_real_interrupt(exc):
                raise
            raise BuildError(
                f"building {kind} component {name!r} (from {comp.owner}) failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(module, nn.Module):
            raise BuildError(
                f"{kind} component {name!r} (from {comp.owner}) returned {type(module).__name__}, not nn.Module"
            )
        problem = convention_problem(kind, type(ref), module)
        if problem is not None:
            raise BuildError(f"{kind} component {name!r} (from {comp.owner}): {problem}")
        module.blockforge_kind = str(kind)  # summaries total parameters and FLOPs per kind
        _check_output_once(module, Kind(kind), name, comp.owner, ctx)
        module.blockforge_name = str(name)  # diagrams label each part with its component...
        module.blockforge_params = ref  # ... and the parameters the spec gave it
        return module

    return build_ref


_SAME_SHAPE = frozenset({Kind.ATTENTION, Kind.BLOCK, Kind.NORM, Kind.FEEDFORWARD, Kind.ACTIVATION})


class OutputContractError(BuildError):
    """A component's output broke its kind's contract on its first run (shape or type)."""


def _check_output_once(module: nn.Module, kind: Kind, name: str, owner: str, ctx: BuildContext) -> None:
    """On the module's first forward, check its output against its kind's contract, then stop checking.

    Mixers, blocks, norms, feed-forwards and activations return a tensor of their input's shape
    ``(batch, length, d_model)``; an embedding returns ``(*ids.shape, d_model)``.

    Raises (from the forward):
        OutputContractError: naming the layer, the component, its plugin, the expected and actual shapes.
    """
    if kind not in _SAME_SHAPE and kind is not Kind.EMBEDDING:
        return
    layer = ctx.layer

    def hook(mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        if torch.compiler.is_compiling():
            return  # a first run under torch.compile is not checked (dynamo cannot trace the handle)
        handle.remove()
        first = args[0] if args else kwargs.get("ids" if kind is Kind.EMBEDDING else "x")
        if not isinstance(first, torch.Tensor):
            return
        expected = (*first.shape, ctx.d_model) if kind is Kind.EMBEDDING else tuple(first.shape)
        actual = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        if actual == tuple(expected):
            return
        where = f"layer {layer}, " if layer is not None else ""
        raise OutputContractError(
            f"{where}{kind} component {name!r} (from plugin {owner!r}) returned "
            f"{'shape ' + str(tuple(actual)) if isinstance(actual, tuple) else 'a ' + actual}, "
            f"expected a tensor of shape {tuple(expected)}: every {kind} is called as {CALLED_AS[kind]} and "
            f"returns {'(*ids.shape, d_model)' if kind is Kind.EMBEDDING else 'a tensor shaped like x'} "
            "(docs/plugins.md, 'How each kind is called')"
        )

    handle = module.register_forward_hook(hook, with_kwargs=True)


_DTYPE_NAMES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                "bfloat16": torch.bfloat16}


def _device_dtype(device: Any, dtype: Any) -> tuple[torch.device, torch.dtype | None]:
    """``device`` and ``dtype`` as torch objects, or a ValueError naming the argument and what is allowed."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a device; use 'cpu', 'meta' or an accelerator such as "
                         "'cuda' or 'cuda:0'") from None
    if dev.type not in ("cpu", "meta"):
        module = getattr(torch, dev.type, None)
        available = getattr(module, "is_available", None)
        if available is None or not available():
            raise ValueError(f"device={device!r}: no {dev.type} device is available here (torch.{dev.type}"
                             ".is_available() is False); use 'cpu', or 'meta' for shapes only")
    if isinstance(dtype, str):
        if dtype not in _DTYPE_NAMES:
            raise ValueError(f"dtype={dtype!r} is not a parameter dtype; use one of "
                             f"{', '.join(_DTYPE_NAMES)} (or the torch.dtype)")
        dtype = _DTYPE_NAMES[dtype]
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype={dtype!r} is not a floating-point torch.dtype; use one of "
                         f"{', '.join(_DTYPE_NAMES)}")
    return dev, dtype


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"seed={seed!r} is not a seed; use an integer in 0..2**64-1")


def out_of_memory(exc: BaseException) -> str | None:
    """If ``exc`` says the machine ran out of memory, a user-facing sentence of how much was asked for.

    Args:
        exc: an exception raised while allocating (a build, a forward).

    Returns:
        ``"tried to allocate 23.8 GiB"`` (or ``"out of memory"`` when torch does not say how much) for
        ``MemoryError``, ``torch.OutOfMemoryError`` and torch's CPU allocator failure; None otherwise.
    """
    oom = getattr(torch, "OutOfMemoryError", ())
    text = str(exc)
    if not (isinstance(exc, MemoryError) or (oom and isinstance(exc, oom)) or (
            isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text))):
        return None
    m = re.search(r"allocate (\d+) bytes", text) or re.search(r"allocate ([0-9.]+) ([GMK]iB)", text)
    if m is None:
        return "out of memory"
    if m.lastindex == 1:
        return f"tried to allocate {int(m.group(1)) / 2**30:.1f} GiB"
    return f"tried to allocate {m.group(1)} {m.group(2)}"


def _available_bytes() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


#: Called as ``progress(done, total)`` while a model's blocks are initialised on a real device.
Progress = Callable[[int, int], None]


def initialize(model: nn.Module, *, std: float | None, progress: Progress | None = None) -> None:
    """Initialise every parameter and buffer once, in module order.

    Args:
        model: a materialised (non-meta) model.
        std: N(0, std) for ``nn.Linear``/``nn.Embedding`` weights with zero biases; None keeps each
            module's own ``reset_parameters``, and then calls ``init_tied_weights()`` on every module that
            has it (a model whose head reuses the token embedding initialises that table as the output
            projection it also is, so that a fresh model's loss starts near ``ln(vocab_size)``).
        progress: called with ``(blocks done, blocks in total)`` after each block.
    """
    blocks = {id(m) for m in model.modules() if getattr(m, "blockforge_kind", None) == "block"}
    ends = {id(list(b.modules())[-1]) for b in model.modules() if id(b) in blocks}
    done = 0
    with torch.no_grad():
        for m in model.modules():
            if std is not None and isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=std)
                bias = getattr(m, "bias", None)
                if bias is not None:
                    nn.init.zeros_(bias)
            elif hasattr(m, "reset_parameters"):
                m.reset_parameters()
            if progress is not None and id(m) in ends:
                done += 1
                progress(done, len(blocks))
        if std is None:  # a table a tied head reuses is the output projection too: initialise it as one
            for m in model.modules():
                init_tied = getattr(m, "init_tied_weights", None)
                if callable(init_tied):
                    init_tied()


def build_model(
    spec: SpecSource = None,
    *,
    registries: Registries | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> nn.Module:
    """Compile a spec into a model.

    Args:
        spec: a path, mapping or validated spec; None builds the default (the seed's Transformer).
        registries: registries to resolve names in; defaults to built-ins plus installed plugins.
        device: where the weights live; ``meta`` builds any size without allocating.
        dtype: parameter dtype (default: torch's default, float32).
        seed: initialisation seed; the same seed gives the same weights.
        progress: called as ``progress(done, total)`` as each block is initialised (not on meta).
        overrides: ``key.path=VALUE`` overrides (values typed as YAML), as ``--set`` on the command line.

    Returns:
        The model. ``model.blockforge_spec`` is the canonical spec, ``model.blockforge_hash`` its hash and
        ``model.blockforge_plan`` the :class:`~blockforge.spec.resolved.ResolvedPlan` it was built from.

    Raises:
        SpecError: the spec is invalid (every problem, located).
        BuildError: a component failed to build, or the weights would not fit in memory.
        ValueError: ``device``, ``dtype`` or ``seed`` is not one this build can use (the message says
            which values are).
    """
    device, dtype = _device_dtype(device, dtype)
    _check_seed(seed)
    if registries is None:
        from blockforge.registry.plugins import default_registries

        registries = default_registries()
    validated: BaseModel = load_spec(spec, registries=registries, overrides=overrides)
    model_params = validated.model  # type: ignore[attr-defined]
    ctx = model_params.build_context()
    ctx = BuildContext(**{**ctx.__dict__, "build": _factory_for(registries)})

    model = _materialize(
        lambda: ctx.child(model_params),
        device=device,
        dtype=dtype,
        seed=seed,
        std=getattr(model_params, "init_std", None),
        progress=progress,
    )
    model.blockforge_spec = canonical(validated)
    model.blockforge_hash = spec_hash(validated)
    model.blockforge_plan = validated.plan  # type: ignore[attr-defined]
    return model


_RANDOM_FILLS = frozenset(
    [
        *(
            getattr(torch.Tensor, name)
            for name in ("normal_", "uniform_", "log_normal_", "exponential_", "cauchy_", "geometric_",
                         "random_", "bernoulli_")
        ),
        # nn.init's fills dispatch through __torch_function__ themselves
        *(
            getattr(nn.init, name)
            for name in dir(nn.init)
            if name.endswith("_") and not name.startswith("_") and callable(getattr(nn.init, name))
        ),
    ]
)


class _NoRandomFillsOnMeta(torch.overrides.TorchFunctionMode):
    """While constructing on the meta device, skip the modules' own random initialisation.

    The builder initialises every tensor once after materialising, so fills of meta tensors are
    wasted work; ``normal_`` in particular has no meta kernel and runs torch's Python reference,
    whose first call imports torch._dynamo and friends (hundreds of modules, ~75 MiB, seconds).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in _RANDOM_FILLS:
            target = args[0] if args else kwargs.get("tensor")  # nn.init passes tensor= by keyword
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


def _materialize(
    construct: Any, *, device: torch.device, dtype: torch.dtype | None, seed: int, std: float | None,
    progress: Progress | None = None,
) -> nn.Module:
    """Construct on meta (free), then allocate on ``device`` and initialise every tensor once."""
    with torch.device("meta"), _NoRandomFillsOnMeta():
        model = construct()
    if dtype is not None:
        model = model.to(dtype=dtype)
    if device.type == "meta":
        return model
    nbytes = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    avail = _available_bytes()
    if device.type == "cpu" and avail is not None and nbytes > avail:
        raise BuildError(
            f"the model needs {nbytes / 2**30:.1f} GiB for its weights but only {avail / 2**30:.1f} GiB "
            "is available; inspect it with `blockforge summary` (meta device) instead"
        )
    # torch.empty rather than Module.to_empty: empty_like(preserve_format) touches part of each new
    # CPU tensor, which raised the seed build's peak RSS by ~34 MiB (benchmarks/RESULTS.md).
    try:
        model = model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))
    except (MemoryError, RuntimeError) as exc:
        why = out_of_memory(exc)
        if why is None:
            raise
        raise BuildError(f"ran out of memory allocating the weights ({nbytes / 2**30:.1f} GiB in all; torch {why}); "
                         "inspect the model with `blockforge summary` (meta device) instead") from None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        initialize(model, std=std, progress=progress)
    return model


def build_component(
    kind: str,
    spec: str | dict[str, Any],
    *,
    d_model: int,
    vocab_size: int = 1,
    max_len: int = 1,
    n_layers: int = 1,
    registries: Registries | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> nn.Module:
    """Build one component from its reference, outside any model (tests, notebooks, plugins).

    Args:
        kind: the component kind (``attention``, ``norm``, ...).
        spec: ``{type: name, ...params}`` or a bare name.
        d_model: width passed in the build context; likewise ``vocab_size``, ``max_len``, ``n_layers``.
        registries: registries to resolve names in; defaults to built-ins plus installed plugins.
        device: where to allocate (``meta`` for none).
        seed: initialisation seed.

    Returns:
        The built module.

    Raises:
        SpecError: the reference is invalid or breaks a shape contract in this context.
    """
    from pydantic import TypeAdapter, ValidationError

    from blockforge.errors import Location
    from blockforge.spec.binding import Binder
    from blockforge.spec.contracts import components, contract_issues

    if registries is None:
        from blockforge.registry.plugins import default_registries

        registries = default_registries()
    adapter = TypeAdapter(Binder(registries).slot(registries[kind].kind))
    try:
        ref = adapter.validate_python(spec)
    except ValidationError as exc:
        raise SpecError(
            [SpecIssue(tuple(e["loc"]), e["msg"], Location("<component>"), None, e["type"]) for e in exc.errors()]
        ) from None
    ctx = BuildContext(d_model=d_model, vocab_size=vocab_size, max_len=max_len, n_layers=n_layers,
                       build=_factory_for(registries))
    issues = [
        SpecIssue((*p, f) if f else p, msg, Location("<component>"), hint, "contract")
        for p, params in components(ref, ())
        for f, msg, hint in contract_issues(params, ctx)
    ]
    if issues:
        raise SpecError(issues)
    return _materialize(lambda: ctx.child(ref), device=torch.device(device), dtype=None, seed=seed, std=None)


__all__ = ["BuildError", "OutputContractError", "out_of_memory", "SpecError", "SpecIssue", "build_component", "build_model", "initialize"]

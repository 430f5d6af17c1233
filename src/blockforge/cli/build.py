"""``blockforge build``: compile a spec on a real device and run one forward pass."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import SetOpt, SpecArg, out, user_errors
from blockforge.cli.context import CliContext

DTYPES = ("float32", "float64", "bfloat16", "float16")


def build(
    ctx: typer.Context,
    spec: SpecArg = None,
    device: Annotated[str, typer.Option(help="Device to build on (cpu, cuda, meta).")] = "cpu",
    dtype: Annotated[str, typer.Option(help=f"Parameter dtype: {', '.join(DTYPES)}.")] = "float32",
    seed: Annotated[int, typer.Option(help="Initialisation seed.")] = 0,
    batch: Annotated[int, typer.Option(min=1, max=1 << 20, help="Batch size of the test forward.")] = 2,
    seq_len: Annotated[Optional[int], typer.Option(min=1, help="Sequence length (default: min(max_len, 32)).")] = None,  # noqa: UP007
    output: Annotated[
        Optional[Path],  # noqa: UP007
        typer.Option("--output", "-o", help="Write a model directory here: spec.yaml, model.safetensors "
                     "(each file atomically; see blockforge.save_model).", file_okay=False),
    ] = None,
    tokenizer: Annotated[
        Optional[Path],  # noqa: UP007
        typer.Option(help="A tokenizers tokenizer.json to put in the model directory (with -o).", dir_okay=False,
                     exists=True),
    ] = None,
    repeats: Annotated[int, typer.Option(min=0, help="Forwards timed after the first (steady state: their "
                                                    "median).")] = 5,
    overrides: SetOpt = None,
) -> None:
    """Build a spec, run forward passes on random token ids, print shapes and timings: the build, the
    first forward (one-time set-up: kernel selection, allocator warm-up, lazy initialisation) and the
    steady state (the median of --repeats more)."""
    if dtype not in DTYPES:
        raise typer.BadParameter(f"{dtype!r} is not one of {', '.join(DTYPES)}", param_hint="--dtype")
    if tokenizer is not None and output is None:
        raise typer.BadParameter("the tokenizer goes into a model directory: give -o DIR too", param_hint="--tokenizer")
    if output is not None and device == "meta":
        raise typer.BadParameter("meta tensors hold no data, so there is nothing to save; build on cpu "
                                 "(or cuda) to save weights", param_hint="--output")
    with user_errors():
        from blockforge.spec import load_spec

        if output is not None:
            _check_output_dir(output)  # before the build, not after it
        registries = CliContext.of(ctx).registries
        validated = load_spec(spec, registries=registries, overrides=overrides or ())
        import torch

        _check_device(device)

        from blockforge.build import build_model

        from rich.progress import Progress

        t0 = time.perf_counter()
        with Progress(console=out.get(), transient=True, disable=device == "meta") as bar:
            task = bar.add_task(f"building on {device}", total=getattr(validated.model, "n_layers", None))
            model = build_model(validated, registries=registries, device=device, dtype=getattr(torch, dtype), seed=seed,
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
        t_build = time.perf_counter() - t0
        model.eval()
        max_len = validated.model.max_len
        t = seq_len or min(max_len, 32)
        vocab = validated.model.vocab_size
        with torch.inference_mode():
            from blockforge.build import out_of_memory
            from blockforge.errors import BlockforgeError

            try:
                ids = torch.randint(0, vocab, (batch, t), device=device)
                t_first, logits = _timed_forward(model, ids, device)
                steady = [_timed_forward(model, ids, device)[0] for _ in range(repeats)]
            except ValueError as exc:
                raise BlockforgeError(str(exc)) from None
            except (MemoryError, RuntimeError) as exc:
                why = out_of_memory(exc)
                if why is None:
                    raise
                raise BlockforgeError(
                    f"ran out of memory in the test forward of batch {batch} x length {t} ({why}); use a smaller "
                    "--batch or --seq-len (`blockforge summary` gives the activation memory on the meta device)"
                ) from None
        n = sum(p.numel() for p in model.parameters())
        out.print(f"built [bold]{validated.name or 'model'}[/]: {n:,} parameters on {device} ({dtype}) "
                  f"in {t_build:.3f} s")
        line = f"forward {tuple(ids.shape)} -> {tuple(logits.shape)}: first call {_ms(t_first)}"
        if steady:
            import statistics

            line += f", then {_ms(statistics.median(steady))} (steady state: median of {len(steady)})"
        out.print(line)
        if output is not None:
            from blockforge.modeldir import save_model

            save_model(model, output, tokenizer=tokenizer)
            out.print(f"saved model directory {output} (spec.yaml, model.safetensors"
                      f"{', tokenizer.json' if tokenizer else ''})")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _timed_forward(model, ids, device: str):  # noqa: ANN001, ANN202 - torch objects, imported lazily
    """One forward, timed to its end (CUDA work is waited for). Returns ``(seconds, logits)``."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t0 = time.perf_counter()
    logits = model(ids)
    sync()
    return time.perf_counter() - t0, logits


def _check_output_dir(output: Path) -> None:
    """Refuse, before building, a model directory that cannot be written.

    Raises:
        BlockforgeError: ``output`` is a file, or it (or, when missing, its parent folder) is not a writable folder.
    """
    import os

    from blockforge.errors import BlockforgeError

    if output.exists() and not output.is_dir():
        raise BlockforgeError(f"cannot write the model directory {output}: it is a file")
    folder = output if output.exists() else output.parent
    if not folder.is_dir():
        raise BlockforgeError(f"cannot write the model directory {output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BlockforgeError(f"cannot write the model directory {output}: the folder {folder} is not writable")


def _check_device(device: str) -> None:
    """Refuse a device string torch does not parse, or one this machine does not have, before building.

    Raises:
        typer.BadParameter: with what was given and what would work.
    """
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise typer.BadParameter(f"{device!r} is not a device; use cpu, meta, cuda or cuda:N",
                                 param_hint="--device") from None
    if dev.type == "meta" or dev.type == "cpu":
        return
    backend = getattr(torch, dev.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise typer.BadParameter(f"{device!r} is not available on this machine (torch {torch.__version__}); "
                                 "use cpu or meta", param_hint="--device")
    count = getattr(backend, "device_count", None)
    if dev.index is not None and count is not None and dev.index >= count():
        raise typer.BadParameter(f"{device!r}: this machine has {count()} {dev.type} device(s)",
                                 param_hint="--device")

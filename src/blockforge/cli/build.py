"""``blockforge build``: compile a spec on a real device and run one forward pass."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import SetOpt, SpecArg, app, out, user_errors

DTYPES = ("float32", "float64", "bfloat16", "float16")


@app.command()
def build(
    spec: SpecArg = None,
    device: Annotated[str, typer.Option(help="Device to build on (cpu, cuda, meta).")] = "cpu",
    dtype: Annotated[str, typer.Option(help=f"Parameter dtype: {', '.join(DTYPES)}.")] = "float32",
    seed: Annotated[int, typer.Option(help="Initialisation seed.")] = 0,
    batch: Annotated[int, typer.Option(min=1, help="Batch size of the test forward.")] = 2,
    seq_len: Annotated[Optional[int], typer.Option(min=1, help="Sequence length (default: min(max_len, 32)).")] = None,  # noqa: UP007
    output: Annotated[
        Optional[Path],  # noqa: UP007
        typer.Option("--output", "-o", help="Save the state dict here (written atomically).", dir_okay=False),
    ] = None,
    overrides: SetOpt = None,
) -> None:
    """Build a spec, run one forward pass on random token ids, print shapes and timings."""
    if dtype not in DTYPES:
        raise typer.BadParameter(f"{dtype!r} is not one of {', '.join(DTYPES)}", param_hint="--dtype")
    with user_errors():
        from blockforge.spec import load_spec

        validated = load_spec(spec, overrides=overrides or ())
        import torch

        from blockforge.build import build_model

        from rich.progress import Progress

        t0 = time.perf_counter()
        with Progress(console=out, transient=True, disable=device == "meta") as bar:
            task = bar.add_task(f"building on {device}", total=getattr(validated.model, "n_layers", None))
            model = build_model(validated, device=device, dtype=getattr(torch, dtype), seed=seed,
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
        t_build = time.perf_counter() - t0
        model.eval()
        max_len = validated.model.max_len
        t = seq_len or min(max_len, 32)
        vocab = validated.model.vocab_size
        ids = torch.randint(0, vocab, (batch, t), device=device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            try:
                logits = model(ids)
            except ValueError as exc:
                from blockforge.errors import BlockforgeError

                raise BlockforgeError(str(exc)) from None
        t_fwd = time.perf_counter() - t0
        n = sum(p.numel() for p in model.parameters())
        out.print(f"built [bold]{validated.name or 'model'}[/]: {n:,} parameters on {device} ({dtype}) "
                  f"in {t_build:.3f} s")
        out.print(f"forward {tuple(ids.shape)} -> {tuple(logits.shape)} in {t_fwd * 1000:.1f} ms")
        if output is not None:
            fd, tmp = tempfile.mkstemp(dir=output.parent or Path("."), prefix=f".{output.name}.", suffix=".tmp")
            os.close(fd)
            try:
                torch.save(model.state_dict(), tmp)
                os.replace(tmp, output)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            out.print(f"saved state dict to {output}")

"""``blockforge train``: train the model of a spec on its data and write a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import SetOpt, SpecArg, err, user_errors
from blockforge.cli.context import CliContext

EXIT_INTERRUPTED = 130


def train(
    ctx: typer.Context,
    spec: SpecArg = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory (a model directory plus state/, "
                                          "checkpoints/, metrics.jsonl, loss-curve.png).", file_okay=False)] = ...,
    data: Annotated[
        Optional[list[str]],  # noqa: UP007 - typer reads Optional
        typer.Option("--data", metavar="PATH", help="Train on this file or folder instead of data.sources "
                     "(repeatable; .jsonl with 'messages' is a conversation corpus, .jsonl a text corpus, "
                     "anything else plain text)."),
    ] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="Optimizer steps (overrides training.steps/epochs).")] = None,  # noqa: UP007
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint in --out.")] = False,
    overrides: SetOpt = None,
) -> None:
    """Train a spec's model (its training: and data: sections) and write a run directory that
    `blockforge generate` and `chat` accept. Ctrl-C writes a checkpoint; --resume continues it exactly."""
    with user_errors():
        from blockforge.train import train as run
        from blockforge.train.progress import default_reporter

        if not resume and (out_dir / "checkpoints").is_dir() and any((out_dir / "checkpoints").iterdir()):
            raise typer.BadParameter(f"{out_dir} already holds a run; pass --resume to continue it, or choose "
                                     "another --out", param_hint="--out")
        result = run(spec, out=out_dir, data=data or (), steps=steps, resume=resume, overrides=overrides or (),
                     registries=CliContext.of(ctx).registries, reporter=default_reporter())
        last = next((r for r in reversed(result.records) if "val_loss" in r), None)
        summary = f"run directory {out_dir}: step {result.step}"
        if result.records:
            summary += f", loss {result.records[-1]['loss']:.4f}"
        if last is not None:
            summary += f", validation loss {last['val_loss']:.4f} (perplexity {last['val_ppl']:.2f})"
        err.print(summary, highlight=False)
        if result.interrupted:
            raise typer.Exit(EXIT_INTERRUPTED)

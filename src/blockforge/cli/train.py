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
    nproc: Annotated[Optional[int], typer.Option(  # noqa: UP007 - typer reads Optional
        "--nproc", min=1, help="Start N local processes through torch's launcher (torchrun); the spec's "
        "parallel.strategy (ddp or fsdp) says how they share each step. Several nodes: docs/distributed.md.")] = None,
) -> None:
    """Train a spec's model (its training: and data: sections) and write a run directory that
    `blockforge generate` and `chat` accept. Ctrl-C writes a checkpoint; --resume continues it exactly."""
    with user_errors():
        from blockforge.distributed.env import launched

        if not resume and (out_dir / "checkpoints").is_dir() and any((out_dir / "checkpoints").iterdir()):
            raise typer.BadParameter(f"{out_dir} already holds a run; pass --resume to continue it, or choose "
                                     "another --out", param_hint="--out")
        cli = CliContext.of(ctx)
        if nproc is not None and nproc > 1:
            if launched():
                raise typer.BadParameter("this process was started by torchrun, which already chose the number "
                                         "of processes; leave --nproc out", param_hint="--nproc")
            from blockforge.distributed.launch import launch
            from blockforge.train.parallel import check_launch

            # the spec is checked once, here, so that a mistake is one located message and not one per process
            check_launch(spec, nproc=nproc, data=data or (), overrides=overrides or (), registries=cli.registries)
            argv = _forwarded(cli, spec=spec, out_dir=out_dir, data=data, steps=steps, resume=resume,
                              overrides=overrides)
            code = launch(nproc, argv)
            if code:
                raise typer.Exit(code)
            return
        if launched():
            from blockforge.train.parallel import rank_strategy

            with rank_strategy(spec, overrides=overrides or (), registries=cli.registries) as strategy:
                _run(spec, out_dir=out_dir, data=data, steps=steps, resume=resume, overrides=overrides, cli=cli,
                     strategy=strategy)
        else:
            _run(spec, out_dir=out_dir, data=data, steps=steps, resume=resume, overrides=overrides, cli=cli,
                 strategy=None)


def _run(spec: Path | None, *, out_dir: Path, data: list[str] | None, steps: int | None, resume: bool,
         overrides: list[str] | None, cli: CliContext, strategy: object) -> None:
    """Train in this process (one of several when ``strategy`` is a distributed one); rank 0 reports."""
    from blockforge.train import train as run
    from blockforge.train.progress import Reporter, default_reporter

    main = strategy is None or getattr(strategy, "is_main", True)
    result = run(spec, out=out_dir, data=data or (), steps=steps, resume=resume, overrides=overrides or (),
                 registries=cli.registries, reporter=default_reporter() if main else Reporter(),
                 strategy=strategy)  # type: ignore[arg-type]
    if main:
        last = next((r for r in reversed(result.records) if "val_loss" in r), None)
        summary = f"run directory {out_dir}: step {result.step}"
        if result.records:
            summary += f", loss {result.records[-1]['loss']:.4f}"
        if last is not None:
            summary += f", validation loss {last['val_loss']:.4f} (perplexity {last['val_ppl']:.2f})"
        err.print(summary, highlight=False)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _forwarded(cli: CliContext, *, spec: Path | None, out_dir: Path, data: list[str] | None, steps: int | None,
               resume: bool, overrides: list[str] | None) -> list[str]:
    """The command line each launched process runs: this one without ``--nproc`` (global options kept)."""
    argv: list[str] = []
    options = cli.plugin_options
    for name in sorted(options.disable):
        argv += ["--disable-plugin", name]
    if options.strict:
        argv.append("--strict-plugins")
    argv += ["train", *([str(spec)] if spec is not None else []), "--out", str(out_dir)]
    for path in data or ():
        argv += ["--data", path]
    if steps is not None:
        argv += ["--steps", str(steps)]
    if resume:
        argv.append("--resume")
    for item in overrides or ():
        argv += ["--set", item]
    return argv

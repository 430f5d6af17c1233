"""``blockforge generate``: continue a prompt with a model directory's model, streaming tokens as they come."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from blockforge.cli._app import user_errors
from blockforge.cli.context import CliContext

ModelDirArg = Annotated[Path, typer.Argument(help="A model directory (blockforge build -o DIR, save_model).",
                                             file_okay=False, show_default=False)]
DeviceOpt = Annotated[str, typer.Option(help="Device to run on (cpu, cuda).")]
DTYPES = ("float32", "float64", "bfloat16", "float16")
DtypeOpt = Annotated[Optional[str], typer.Option(help=f"Parameter dtype ({', '.join(DTYPES)}); default: as saved.")]  # noqa: UP007


def generate(
    ctx: typer.Context,
    model_dir: ModelDirArg,
    prompt: Annotated[Optional[str], typer.Option(help="Text to continue (needs the directory's tokenizer.json).")] = None,  # noqa: UP007
    ids: Annotated[Optional[str], typer.Option(help="Token ids to continue, e.g. 1,2,3 (no tokenizer needed).")] = None,  # noqa: UP007
    max_new_tokens: Annotated[Optional[int], typer.Option(min=1, help="Tokens to generate at most (default: the directory's generation defaults).")] = None,  # noqa: UP007
    do_sample: Annotated[Optional[bool], typer.Option("--sample/--greedy", help="Sample, or take the most likely token.")] = None,  # noqa: UP007
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature (> 0).")] = None,  # noqa: UP007
    top_k: Annotated[Optional[int], typer.Option(help="Sample among the top k tokens (0 = all).")] = None,  # noqa: UP007
    top_p: Annotated[Optional[float], typer.Option(help="Nucleus sampling mass in (0, 1].")] = None,  # noqa: UP007
    repetition_penalty: Annotated[Optional[float], typer.Option(help="CTRL repetition penalty (1.0 = none).")] = None,  # noqa: UP007
    seed: Annotated[Optional[int], typer.Option(help="Sampling seed.")] = None,  # noqa: UP007
    stop: Annotated[Optional[list[str]], typer.Option(help="Stop when the text contains this (repeatable).")] = None,  # noqa: UP007
    device: DeviceOpt = "cpu",
    dtype: DtypeOpt = None,
) -> None:
    """Continue a prompt (--prompt TEXT, or --ids 1,2,3) and stream the new tokens to stdout."""
    if (prompt is None) == (ids is None):
        raise typer.BadParameter("give exactly one of --prompt TEXT and --ids 1,2,3", param_hint="--prompt/--ids")
    token_ids = _parse_ids(ids) if ids is not None else None
    with user_errors():
        model, tokenizer, config = load_for_generation(ctx, model_dir, device=device, dtype=dtype)
        import torch

        from blockforge.errors import BlockforgeError
        from blockforge.generation import TextStreamer
        from blockforge.generation import generate as run

        if token_ids is None:
            if tokenizer is None:
                raise BlockforgeError(f"{model_dir} has no tokenizer.json, so --prompt cannot be encoded; "
                                      "pass token ids with --ids 1,2,3")
            token_ids = tokenizer.encode(prompt).ids
            if not token_ids:
                raise BlockforgeError("the prompt encodes to no tokens")
        vocab = model.embedding.weight.shape[0]
        bad = [i for i in token_ids if i >= vocab]
        if bad:
            raise BlockforgeError(f"token ids {bad[:5]} are outside the vocabulary (0..{vocab - 1})")
        stops = tuple(stop or config.stop)
        streamer = TextStreamer(tokenizer if prompt is not None else None, _write, stop_strings=stops)
        run(model, torch.tensor([token_ids], device=device),
            max_new_tokens=max_new_tokens or config.max_new_tokens,
            do_sample=config.do_sample if do_sample is None else do_sample,
            temperature=config.temperature if temperature is None else temperature,
            top_k=config.top_k if top_k is None else top_k,
            top_p=config.top_p if top_p is None else top_p,
            repetition_penalty=config.repetition_penalty if repetition_penalty is None else repetition_penalty,
            eos_token_id=config.eos_ids() or None, pad_token_id=config.pad_token_id, seed=seed,
            streamer=streamer, stop_strings=stops if tokenizer is not None else (), tokenizer=tokenizer,
            decoder_start_token_id=config.decoder_start_token_id)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _parse_ids(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a list of token ids like 1,2,3", param_hint="--ids") from None
    if not values or any(v < 0 for v in values):
        raise typer.BadParameter(f"{text!r}: give one or more non-negative token ids, like 1,2,3", param_hint="--ids")
    return values


def load_for_generation(ctx: typer.Context, model_dir: Path, *, device: str, dtype: str | None) -> tuple[Any, Any, Any]:
    """The model, its tokenizer (or None) and generation defaults of a model directory.

    Raises:
        typer.BadParameter: an unknown dtype.
        ModelDirError: the directory cannot be loaded.
    """
    if dtype is not None and dtype not in DTYPES:
        raise typer.BadParameter(f"{dtype!r} is not one of {', '.join(DTYPES)}", param_hint="--dtype")
    import torch

    from blockforge.cli.build import _check_device
    from blockforge.modeldir import load_generation_config, load_model, load_tokenizer

    _check_device(device)
    model = load_model(model_dir, device=device, dtype=getattr(torch, dtype) if dtype else None,
                       registries=CliContext.of(ctx).registries)
    return model, load_tokenizer(model_dir), load_generation_config(model_dir)

"""``blockforge export-hf``: write a model directory as a transformers checkpoint directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import out, user_errors
from blockforge.cli.context import CliContext


def export_hf(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Argument(help="A blockforge model directory.", file_okay=False,
                                              show_default=False)],
    output: Annotated[Path, typer.Argument(help="The transformers checkpoint directory to write.",
                                           file_okay=False, show_default=False)],
    family: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option(help="The transformers model_type to write (default: the first family whose config "
                          "imports back to exactly this model; Phi-3 and GPT-BigCode share their "
                          "architecture with Mistral and GPT-2, so ask for them by name)."),
    ] = None,
) -> None:
    """Write config.json and model.safetensors that transformers' from_pretrained loads (every weight,
    none missing), for a model whose spec maps back to a transformers family exactly; the model
    directory's tokenizer.json is copied along. Nothing is written when the spec maps to no family."""
    with user_errors():
        from blockforge._io import write_text_atomic
        from blockforge.interop import save_hf_directory
        from blockforge.modeldir import load_model

        model = load_model(model_dir, registries=CliContext.of(ctx).registries)
        written = save_hf_directory(model, output, family=family)
        tokenizer = model_dir / "tokenizer.json"
        if tokenizer.is_file():
            write_text_atomic(output / "tokenizer.json", tokenizer.read_text(encoding="utf-8"))
        out.print(f"wrote {output} ({written})")

"""``blockforge draw``: a picture of the architecture (SVG, PNG or Mermaid), built on the meta device."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import SetOpt, SpecArg, out, user_errors
from blockforge.cli.context import CliContext
from blockforge.cli.summary import BatchOpt, SeqLenOpt

#: Output suffix -> what is written.
SUFFIXES = {".svg": "SVG", ".png": "PNG", ".mmd": "Mermaid", ".mermaid": "Mermaid", ".md": "Markdown (Mermaid)"}


def draw(
    ctx: typer.Context,
    spec: SpecArg = None,
    output: Annotated[
        Optional[Path],  # noqa: UP007 - typer reads Optional
        typer.Option("--output", "-o", dir_okay=False, show_default=False,
                     help="Write here (atomically); the suffix picks the format: .svg, .png, .mmd "
                          "(Mermaid) or .md (Mermaid in a fence). Default: Mermaid on stdout."),
    ] = None,
    batch: BatchOpt = 1,
    seq_len: SeqLenOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Draw the architecture: embedding, each distinct block once (sublayers, norms, residuals, the
    layers it covers), the plan's pattern, head; parameters and forward FLOPs per token on every part.

    Examples: `blockforge draw specs/llama3-8b.yaml -o arch.svg`, `-o arch.png`, `-o arch.mmd`.
    """
    suffix = output.suffix.lower() if output is not None else ".mmd"
    if suffix not in SUFFIXES:
        raise typer.BadParameter(f"unknown suffix {suffix or '(none)'!r}; use one of "
                                 f"{', '.join(SUFFIXES)}", param_hint="--output")
    with user_errors():
        from blockforge._io import atomic_path, check_writable
        from blockforge.errors import BlockforgeError

        if output is not None:
            check_writable(output)
        if suffix == ".png":
            try:
                import cairosvg  # noqa: F401 - checked before the (slower) build
            except (ImportError, OSError) as exc:
                raise BlockforgeError(
                    f"PNG output needs cairosvg and the cairo library ({exc}); install it with "
                    "`pip install cairosvg` (the dev set-up does), or write .svg or .mmd, which need nothing"
                ) from None
        from blockforge.build import build_model
        from blockforge.inspect import summarize
        from blockforge.inspect.diagram import diagram
        from blockforge.spec import load_spec

        registries = CliContext.of(ctx).registries
        validated = load_spec(spec, registries=registries, overrides=overrides or ())
        model = build_model(validated, device="meta", registries=registries)
        try:
            summary = summarize(model, batch=batch, seq_len=seq_len)
        except ValueError as exc:
            raise BlockforgeError(f"{spec or 'default spec'}: {exc}") from None
        picture = diagram(model, summary)

        from blockforge import figure

        if output is None:
            out.file.write(figure.to_mermaid(picture))
            return
        if suffix == ".png":
            data = figure.to_png(picture)
        elif suffix == ".svg":
            data = figure.to_svg(picture).encode()
        elif suffix == ".md":
            data = f"```mermaid\n{figure.to_mermaid(picture)}```\n".encode()
        else:
            data = figure.to_mermaid(picture).encode()
        with atomic_path(output) as tmp:
            Path(tmp).write_bytes(data)
    out.print(f"wrote {output} ({SUFFIXES[suffix]})")

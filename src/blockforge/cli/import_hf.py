"""``blockforge import-hf``: turn a transformers ``config.json`` into a blockforge spec (torch-free)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import out, user_errors
from blockforge.cli.context import CliContext


def import_hf(
    ctx: typer.Context,
    config: Annotated[
        Optional[Path],  # noqa: UP007
        typer.Argument(help="A transformers config.json.", dir_okay=False, show_default=False),
    ] = None,
    output: Annotated[
        Optional[Path],  # noqa: UP007
        typer.Option("--output", "-o", help="Write the spec here (YAML, written atomically). Default: stdout.",
                     dir_okay=False),
    ] = None,
    name: Annotated[Optional[str], typer.Option(help="The spec's name (default: hf-<model_type>).")] = None,  # noqa: UP007
    architecture: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option(help="transformers class to reproduce instead of the config's architectures "
                          "(e.g. BertModel for a BertForMaskedLM checkpoint's encoder)."),
    ] = None,
    list_supported: Annotated[
        bool, typer.Option("--list", help="Print the supported families, architectures and rope types, then exit.")
    ] = False,
) -> None:
    """Convert a transformers config into a spec that computes exactly the same model.

    Unknown config keys and values blockforge cannot reproduce are errors, each named.
    The spec is validated before it is written; an existing file is replaced only on success.
    """
    with user_errors():
        if list_supported:
            _print_supported()
            return
        if config is None:
            raise typer.BadParameter("give a config.json (or --list)", param_hint="CONFIG")
        import yaml

        from blockforge.interop.hf_config import import_config
        from blockforge.spec import load_spec

        spec = import_config(config, name=name, architecture=architecture)
        load_spec(spec, registries=CliContext.of(ctx).registries)  # never write a spec that does not validate
        text = f"# Imported by `blockforge import-hf` from {config.name}.\n" + yaml.safe_dump(
            spec, sort_keys=False, default_flow_style=False)
        if output is None:
            sys.stdout.write(text)
            return
        from blockforge._io import write_text_atomic

        write_text_atomic(output, text)
        out.print(f"wrote {output} ({spec['name']})")


def _print_supported() -> None:
    """The families (``model_type``), the transformers classes of each, and the rope types."""
    from blockforge.interop.hf_families import ARCHITECTURES, ROPE_SETTINGS
    from blockforge.interop.hf_policy_data import TRANSFORMERS_VERSION

    lines = [f"families (model_type) and architectures, as of transformers {TRANSFORMERS_VERSION}:"]
    lines += [f"  {family}: {', '.join(archs)}" for family, archs in sorted(ARCHITECTURES.items())]
    lines.append(f"rope types: {', '.join(ROPE_SETTINGS)}")
    sys.stdout.write("\n".join(lines) + "\n")

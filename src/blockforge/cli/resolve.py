"""``blockforge resolve``: the canonical, fully resolved spec (defaults filled; extends, overrides
and references applied). Building from it gives the same model. Torch-free."""

from __future__ import annotations

import json
import typer

from blockforge.cli._app import Format, SetOpt, SpecArg, format_option, out, user_errors
from blockforge.cli.context import CliContext


def resolved_text(validated: object, fmt: Format) -> str:
    """The canonical spec as YAML or JSON text."""
    from blockforge.spec import canonical

    data = canonical(validated)  # type: ignore[arg-type]
    if fmt == Format.json:
        return json.dumps(data, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def resolve(
    ctx: typer.Context,
    spec: SpecArg = None,
    fmt: format_option(Format.yaml, Format.json) = Format.yaml,
    overrides: SetOpt = None,
) -> None:
    """Print the canonical, fully resolved spec and its hash (as a comment in YAML)."""
    with user_errors():
        from blockforge.spec import load_spec, spec_hash

        validated = load_spec(spec, registries=CliContext.of(ctx).registries, overrides=overrides or ())
        text = resolved_text(validated, fmt)
        if fmt == Format.yaml:
            text = f"# blockforge resolve: spec hash {spec_hash(validated)}\n" + text
    out.file.write(text)

"""``blockforge resolve``: the canonical, fully resolved spec (defaults filled; extends, overrides
and references applied). Building from it gives the same model. Torch-free."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from blockforge.cli._app import SetOpt, SpecArg, app, out, user_errors


class ResolveFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def resolved_text(validated: object, fmt: ResolveFormat) -> str:
    """The canonical spec as YAML or JSON text."""
    from blockforge.spec import canonical

    data = canonical(validated)  # type: ignore[arg-type]
    if fmt == ResolveFormat.json:
        return json.dumps(data, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


@app.command()
def resolve(
    spec: SpecArg = None,
    fmt: Annotated[ResolveFormat, typer.Option("--format", "-f", help="Output format.")] = ResolveFormat.yaml,
    overrides: SetOpt = None,
) -> None:
    """Print the canonical, fully resolved spec and its hash (as a comment in YAML)."""
    with user_errors():
        from blockforge.spec import load_spec, spec_hash

        validated = load_spec(spec, overrides=overrides or ())
        text = resolved_text(validated, fmt)
        if fmt == ResolveFormat.yaml:
            text = f"# blockforge resolve: spec hash {spec_hash(validated)}\n" + text
    out.file.write(text)

"""``blockforge plugins``: every plugin seen, its version, whether it loaded (and why not), what it adds.

The global plugin options (``--no-plugins``, ``--disable-plugin``, ``--strict-plugins``) are read by the
app callback in ``_app.py`` into the :class:`~blockforge.cli.context.CliContext`.
"""

from __future__ import annotations

import json

import typer

from blockforge.cli._app import Format, FormatOpt, out
from blockforge.cli.context import CliContext

STATUS_STYLE = {"loaded": "green", "failed": "bold red", "disabled": "yellow"}


def plugins(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """List plugins: version, status (loaded, failed or disabled, and why), components contributed."""
    infos = CliContext.of(ctx).plugins.plugins
    if fmt == Format.json:
        out.print_json(json.dumps({"plugins": [p.to_dict() for p in infos]}))
        return
    from rich.table import Table

    table = Table(title="plugins", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("distribution")
    table.add_column("version")
    table.add_column("status")
    table.add_column("components / reason")
    for p in infos:
        status = f"[{STATUS_STYLE[p.status]}]{p.status}[/]"
        if p.status == "failed":
            status += f" ({p.stage})"
        detail = p.error if p.status != "loaded" else (", ".join(p.components) or "-")
        table.add_row(p.name, p.distribution or "-", p.version or "-", status, detail)
    out.print(table)

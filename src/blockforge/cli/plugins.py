"""``blockforge plugins``: every plugin seen, its version, whether it loaded (and why not), what it adds.

Also the global plugin options (``--no-plugins``, ``--disable-plugin``, ``--strict-plugins``) that the
app callback in ``_app.py`` hands to :func:`apply_plugin_options`.
"""

from __future__ import annotations

import json

import typer

from blockforge.cli._app import EXIT_INVALID, Format, FormatOpt, app, err, out

STATUS_STYLE = {"loaded": "green", "failed": "bold red", "disabled": "yellow"}


def apply_plugin_options(*, no_plugins: bool, disable: list[str], strict: bool) -> None:
    """Configure how this process loads plugins; in strict mode, load them now and stop on failure.

    Args:
        no_plugins: skip every third-party plugin.
        disable: plugin names to skip.
        strict: any plugin failure is fatal (exit 1 with the plugin's name, version and error).

    Raises:
        typer.Exit: strict mode and a plugin failed.
    """
    from blockforge.registry.plugins import configure_default, default_plugins, strict_from_env

    configure_default(disable=[*disable, *(["all"] if no_plugins else [])], strict=True if strict else None)
    if strict or strict_from_env():
        from blockforge.errors import PluginError

        try:
            default_plugins()
        except PluginError as exc:
            err.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
            err.print("  = help: fix or uninstall the plugin, or skip it with --disable-plugin NAME")
            raise typer.Exit(EXIT_INVALID) from None


@app.command()
def plugins(fmt: FormatOpt = Format.text) -> None:
    """List plugins: version, status (loaded, failed or disabled, and why), components contributed."""
    from blockforge.registry.plugins import default_plugins

    infos = default_plugins().plugins
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

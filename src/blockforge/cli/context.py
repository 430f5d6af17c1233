"""The CLI context: what the global options decide, handed to every command explicitly (``ctx.obj``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from blockforge.registry.plugins import PluginOptions

if TYPE_CHECKING:
    import typer

    from blockforge.registry.plugins import PluginSet
    from blockforge.registry.registry import Registries


@dataclass(frozen=True)
class CliContext:
    """One invocation's settings, created by the app callback from the global options.

    A command takes ``ctx: typer.Context`` and reads ``CliContext.of(ctx)``; nothing is kept in module
    globals, so two invocations in one process (tests, a notebook) with different options cannot see
    each other's plugins.

    Attributes:
        plugin_options: which plugins to load (``--no-plugins``, ``--disable-plugin``, ``--strict-plugins``).
    """

    plugin_options: PluginOptions = field(default_factory=PluginOptions)

    @classmethod
    def of(cls, ctx: typer.Context) -> CliContext:
        """The context of this invocation (the defaults when a command runs without the app's callback).

        Args:
            ctx: the command's typer context.

        Returns:
            The :class:`CliContext` the callback stored in ``ctx.obj``.
        """
        found = ctx.find_object(cls)
        return found if found is not None else cls()

    @property
    def plugins(self) -> PluginSet:
        """The plugin set for these options (loaded on first use; shared by equal options).

        Raises:
            PluginError: in strict mode, when a plugin fails.
        """
        from blockforge.registry.plugins import default_plugins

        return default_plugins(self.plugin_options)

    @property
    def registries(self) -> Registries:
        """The registries of :attr:`plugins`: what specs are validated and built against."""
        return self.plugins.registries

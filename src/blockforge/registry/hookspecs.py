"""Hook specifications: the plugin author's manual.

A plugin is a module (or object) with functions decorated by :data:`blockforge.hookimpl`, named
after the hooks below, and exposed through the ``blockforge`` entry-point group::

    # pyproject.toml of the plugin package
    [project.entry-points.blockforge]
    my_plugin = "my_plugin.plugin"

Keep the plugin module torch-free: parameter models are pydantic models, and factories import
their torch modules inside the function body. ``blockforge validate`` and ``blockforge components``
then stay fast with the plugin installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from blockforge.registry.registry import Registrar

PROJECT = "blockforge"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def blockforge_register_components(registry: Registrar) -> None:
    """Register this plugin's components.

    Called once per plugin when a registry set is loaded. Call ``registry.register`` for each
    component::

        @hookimpl
        def blockforge_register_components(registry):
            registry.register("norm", "dyt", params=DyTParams, factory=build_dyt)

    Args:
        registry: a registrar owned by this plugin. ``registry.register(kind, name, params=...,
            factory=...)`` adds a component; ``params`` is a pydantic model (no field named
            ``type``), ``factory(params, ctx)`` returns an ``nn.Module``.

    Raises:
        Anything: an exception here is reported with the plugin's name and version, and the
        plugin's registrations are dropped; other plugins keep working (strict mode makes it fatal).
    """

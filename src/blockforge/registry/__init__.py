"""Component registries, hook specs and the plugin manager. Torch-free."""

from blockforge.registry.context import BuildContext
from blockforge.registry.hookspecs import hookimpl
from blockforge.registry.kinds import KINDS, Kind
from blockforge.registry.plugins import (
    PluginInfo,
    PluginOptions,
    PluginSet,
    default_plugins,
    default_registries,
    load_plugins,
)
from blockforge.registry.registry import Component, Factory, Registrar, Registries, Registry

__all__ = [
    "KINDS",
    "BuildContext",
    "Component",
    "Factory",
    "Kind",
    "PluginInfo",
    "PluginOptions",
    "PluginSet",
    "Registrar",
    "Registries",
    "Registry",
    "default_plugins",
    "default_registries",
    "hookimpl",
    "load_plugins",
]

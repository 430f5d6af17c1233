"""The plugin manager: built-ins and ``blockforge`` entry points register into a fresh registry set.

Every plugin is loaded on its own: it is imported, registered with pluggy (misspelt hooks are caught
by ``check_pending``), its ``blockforge_register_components`` hook is called, and its components are
checked. A failure at any of these stages is recorded on the plugin's :class:`PluginInfo` (with the
distribution's name and version) and everything the plugin registered is rolled back, so a broken
plugin leaves no half of itself behind and the other plugins keep working. Strict mode turns the
first failure into a :class:`~blockforge.errors.PluginError`.

Torch-free: importing plugins must not import torch (see ``docs/plugins.md``).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from blockforge.errors import BlockforgeError, PluginError
from blockforge.registry import hookspecs
from blockforge.registry.registry import Component, Registrar, Registries

ENTRY_POINT_GROUP = "blockforge"
BUILTIN_PLUGIN = "builtins"
BUILTIN_MODULE = "blockforge.builtins"
"""The built-in plugin, loaded by its module name the way an entry point names a plugin's module: the
registry layer knows plugins only through the hooks, never by importing the layers above it."""
ENV_DISABLE = "BLOCKFORGE_DISABLE_PLUGINS"
ENV_STRICT = "BLOCKFORGE_STRICT_PLUGINS"
ALL = "all"

log = logging.getLogger("blockforge.plugins")


@dataclass
class PluginInfo:
    """What happened to one plugin.

    Attributes:
        name: the entry-point name (``builtins`` for blockforge's own components).
        distribution: the distribution that provides it, or None.
        version: that distribution's version, or None.
        status: ``loaded``, ``failed`` or ``disabled``.
        stage: where it failed: ``import``, ``register`` (pluggy refused it), ``hook`` (its hook
            raised) or ``check`` (a component it registered is malformed); None otherwise.
        error: why it failed (one line), or why it is disabled.
        components: qualified names (``kind.name``) it contributed.
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"
    stage: str | None = None
    error: str | None = None
    components: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``name (distribution version)``, the way every message names a plugin."""
        if self.distribution:
            return f"{self.name} ({self.distribution} {self.version or '?'})"
        return self.name

    def to_dict(self) -> dict[str, Any]:
        """This report as plain JSON-able data (``blockforge plugins --json``).

        Returns:
            ``name``, ``distribution``, ``version``, ``status``, ``stage``, ``error`` and ``components``.
        """
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "stage": self.stage,
            "error": self.error,
            "components": list(self.components),
        }


@dataclass
class PluginSet:
    """A loaded registry set and the report of how each plugin fared."""

    registries: Registries
    plugins: list[PluginInfo]
    unmatched_disables: list[str] = field(default_factory=list)
    """Names given to disable that matched no plugin (a typo, an uninstalled plugin, or the built-ins,
    which cannot be disabled)."""

    @property
    def failures(self) -> list[PluginInfo]:
        """The plugins that failed (to import, in their hook, or a component check), in load order."""
        return [p for p in self.plugins if p.status == "failed"]

    def get(self, name: str) -> PluginInfo:
        """The report of one plugin.

        Args:
            name: the plugin's entry-point name (``builtins`` for blockforge's own components).

        Returns:
            Its :class:`PluginInfo`.

        Raises:
            KeyError: no plugin of that name was seen.
        """
        for p in self.plugins:
            if p.name == name:
                return p
        raise KeyError(name)


def _norm(name: str) -> str:
    """Plugin names compare like distribution names: case-, ``-``/``_``/``.``-insensitive."""
    return re.sub(r"[-_.]+", "-", name).lower()


def disabled_from_env() -> set[str]:
    """The plugin names to skip, from ``BLOCKFORGE_DISABLE_PLUGINS``.

    Returns:
        The comma-separated names (``all`` for every third-party plugin); empty if the variable is unset.
    """
    raw = os.environ.get(ENV_DISABLE, "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def strict_from_env() -> bool:
    """Whether ``BLOCKFORGE_STRICT_PLUGINS`` asks for strict mode.

    Returns:
        True for ``1``, ``true``, ``yes`` or ``on`` (any case); False otherwise or unset.
    """
    return os.environ.get(ENV_STRICT, "").strip().lower() in {"1", "true", "yes", "on"}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh pluggy manager for blockforge.

    Returns:
        A ``pluggy.PluginManager`` for the ``blockforge`` project with the hook specs of
        :mod:`blockforge.registry.hookspecs` added and no plugin registered.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


class _Disabled:
    def __init__(self, names: Iterable[str]) -> None:
        self.given = {_norm(n): n for n in names}
        self.names = set(self.given)
        self.matched: set[str] = set()

    def __call__(self, info: PluginInfo) -> str | None:
        """Why ``info`` is disabled, or None."""
        if _norm(ALL) in self.names:
            return "all plugins disabled"
        for candidate in (info.name, info.distribution):
            if candidate and _norm(candidate) in self.names:
                self.matched.add(_norm(candidate))
                return f"disabled by name ({candidate})"
        return None

    def unmatched(self) -> list[str]:
        """Names asked for that no plugin answered to: a typo, a plugin that is not installed, or the
        built-ins (which are never offered for disabling)."""
        return sorted(g for n, g in self.given.items() if n != _norm(ALL) and n not in self.matched)


_BUILTIN_NAMES = {_norm(BUILTIN_PLUGIN), _norm("blockforge")}


def load_plugins(
    *,
    entry_points: bool = True,
    disable: Iterable[str] | None = None,
    strict: bool | None = None,
    extra: Sequence[tuple[str, object]] = (),
) -> PluginSet:
    """Load the built-ins, the ``blockforge`` entry points and ``extra`` plugins into fresh registries.

    The built-ins are always loaded first (they cannot be disabled), then entry points sorted by
    name, then ``extra`` in order. When two plugins register the same name, the first one keeps it
    and the second fails as a whole.

    Args:
        entry_points: discover installed plugins through the ``blockforge`` entry-point group.
        disable: plugin names (entry-point or distribution names) to skip; ``all`` skips every
            third-party plugin. Defaults to the comma-separated ``BLOCKFORGE_DISABLE_PLUGINS``.
        strict: make any plugin failure fatal. Defaults to ``BLOCKFORGE_STRICT_PLUGINS``.
        extra: ``(name, plugin object)`` pairs registered after the entry points (tests, notebooks).

    Returns:
        The registries and a per-plugin report.

    Raises:
        PluginError: in strict mode, when any plugin fails; the message names the plugin, its
            distribution and version, the stage and the error.
    """
    is_disabled = _Disabled(disabled_from_env() if disable is None else disable)
    strict = strict_from_env() if strict is None else strict
    registries = Registries()
    pm = make_plugin_manager()
    infos: list[PluginInfo] = []

    core = PluginInfo(BUILTIN_PLUGIN, "blockforge", _version())
    _load_one(pm, registries, core, lambda: importlib.import_module(BUILTIN_MODULE), strict=True, checked=False)
    infos.append(core)

    candidates: list[tuple[PluginInfo, Any]] = []
    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.metadata["Name"] if dist else None, dist.version if dist else None)
            if ep.name == BUILTIN_PLUGIN and info.distribution == "blockforge":
                continue
            candidates.append((info, ep.load))
    for name, obj in extra:
        candidates.append((PluginInfo(name), lambda obj=obj: obj))

    for info, load in candidates:
        why = is_disabled(info)
        if why is not None:
            info.status, info.error = "disabled", why
        else:
            _load_one(pm, registries, info, load, strict=strict, checked=True)
        infos.append(info)
    return PluginSet(registries, infos, is_disabled.unmatched())


def _load_one(
    pm: pluggy.PluginManager, registries: Registries, info: PluginInfo, load: Any, *, strict: bool, checked: bool
) -> None:
    """Import, register, call and check one plugin; on failure record why and roll it back."""
    try:
        obj = load()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any import failure is the plugin's, not ours
        _fail(info, "import", exc, strict)
        return
    try:
        pm.register(obj, name=info.name)
        if not pm.get_hookcallers(obj):
            raise NoHooksError(
                f"{obj!r} implements no blockforge_* hook; does the entry point name the module "
                "that holds the @hookimpl functions?"
            )
        pm.check_pending()
    except Exception as exc:  # noqa: BLE001
        _unregister(pm, obj)
        _fail(info, "register", exc, strict)
        return
    registrar = Registrar(registries, owner=info.name)
    stage = "hook"
    try:
        for impl in pm.hook.blockforge_register_components.get_hookimpls():
            if impl.plugin is obj:
                impl.function(**{arg: registrar for arg in impl.argnames})  # 0 or 1 argument
        stage = "check"
        if checked:
            for comp in registrar.registered:
                check_component(pm, comp, registries)
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        for comp in registrar.registered:
            registries[comp.kind].remove(comp.name)
        _unregister(pm, obj)
        _fail(info, stage, exc, strict)
        return
    info.components = [c.qualified_name for c in registrar.registered]


def check_component(pm: pluggy.PluginManager, comp: Component, registries: Registries) -> None:
    """Run every ``blockforge_check_component`` hook (the built-ins' checks that a spec can use the
    component: its parameter model binds and its examples validate) on a newly registered component.

    Args:
        pm: the plugin manager the loaded plugins are registered with.
        comp: the registered component.
        registries: the registry set it was registered in (with every plugin loaded so far).

    Raises:
        ComponentCheckError: naming the component and what is wrong.
    """
    try:
        pm.hook.blockforge_check_component(component=comp, registries=registries)
    except ComponentCheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - a check hook's own failure names the component too
        raise ComponentCheckError(f"{comp.qualified_name}: {_one_line(exc)}") from exc


class ComponentCheckError(BlockforgeError):
    """A plugin registered a component that a spec could not use."""


class NoHooksError(BlockforgeError):
    """A plugin object implements none of blockforge's hooks."""


def _unregister(pm: pluggy.PluginManager, obj: object) -> None:
    if pm.is_registered(obj):
        pm.unregister(obj)


def _fail(info: PluginInfo, stage: str, exc: BaseException, strict: bool) -> None:
    info.status = "failed"
    info.stage = stage
    info.error = _one_line(exc)
    if strict:
        raise PluginError(f"plugin {info.label} failed at {stage}: {info.error}") from exc


def _version() -> str | None:
    try:
        return metadata.version("blockforge")
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class PluginOptions:
    """How a plugin set is loaded: the CLI's global options, or a Python caller's choice.

    Attributes:
        disable: names to skip (``all`` for every third-party plugin), in addition to
            ``BLOCKFORGE_DISABLE_PLUGINS``.
        strict: True makes any plugin failure fatal; None defers to ``BLOCKFORGE_STRICT_PLUGINS``.
    """

    disable: frozenset[str] = frozenset()
    strict: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.disable, str):
            raise TypeError(f"disable takes plugin names, not one string: use {{{self.disable!r}}}")
        object.__setattr__(self, "disable", frozenset(self.disable))  # any iterable; hashable for the memo

    def resolved(self) -> PluginOptions:
        """These options with the environment variables folded in (what a load actually uses).

        Returns:
            Options whose ``disable`` includes ``BLOCKFORGE_DISABLE_PLUGINS`` and whose ``strict`` is a bool.
        """
        return PluginOptions(
            frozenset(self.disable) | frozenset(disabled_from_env()),
            strict_from_env() if self.strict is None else self.strict,
        )


@functools.lru_cache(maxsize=8)
def _load_default(options: PluginOptions) -> PluginSet:
    """Load the plugin set for fully resolved ``options`` (memoised: the key is everything the load
    reads, except which distributions are installed; :func:`forget_default_plugins` clears it)."""
    ps = load_plugins(disable=options.disable, strict=options.strict)
    for info in ps.failures:
        log.warning(
            "warning: plugin %s failed at %s and was skipped: %s (see `blockforge plugins`)",
            info.label, info.stage, info.error,
        )
    for name in ps.unmatched_disables:
        if _norm(name) in _BUILTIN_NAMES:
            log.warning("warning: the built-in components cannot be disabled (asked: %r)", name)
        else:
            others = sorted(p.name for p in ps.plugins if p.name != BUILTIN_PLUGIN)
            log.warning(
                "warning: no plugin named %r to disable; installed plugins: %s",
                name, ", ".join(others) or "none",
            )
    return ps


def default_plugins(options: PluginOptions | None = None) -> PluginSet:
    """The plugin set (built-ins plus installed plugins) for ``options``, loaded once per distinct options.

    Two calls with the same options (after the environment is folded in) share one set, so a process
    pays for plugin loading and spec binding once; different options never see each other's set. A
    plugin that failed is logged once per set as a warning on the ``blockforge.plugins`` logger.

    Args:
        options: how to load; default: ``PluginOptions()`` (only the environment variables apply).

    Returns:
        The :class:`PluginSet`.

    Raises:
        PluginError: in strict mode, when a plugin fails.
    """
    return _load_default((options or PluginOptions()).resolved())


def forget_default_plugins() -> None:
    """Drop every memoised default plugin set (after installing or uninstalling a plugin in this process)."""
    _load_default.cache_clear()


def default_registries(options: PluginOptions | None = None) -> Registries:
    """The registries of :func:`default_plugins`.

    Args:
        options: how to load the plugins; default: only the environment variables apply.

    Returns:
        The shared :class:`Registries` of those options (built-ins plus installed, enabled plugins).

    Raises:
        PluginError: in strict mode, when a plugin fails.
    """
    return default_plugins(options).registries


__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_DISABLE",
    "ENV_STRICT",
    "ComponentCheckError",
    "PluginInfo",
    "PluginOptions",
    "PluginSet",
    "check_component",
    "forget_default_plugins",
    "default_plugins",
    "default_registries",
    "load_plugins",
    "make_plugin_manager",
]

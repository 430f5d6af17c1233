"""The plugin manager: built-ins and ``blockforge`` entry points register into a fresh registry set.

Each plugin's hook runs on its own, against a staging registrar; its registrations are committed
only if the whole hook succeeds, so a failing plugin leaves no half of itself behind. Torch-free.
"""

from __future__ import annotations

import os
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
ENV_DISABLE = "BLOCKFORGE_DISABLE_PLUGINS"
ENV_STRICT = "BLOCKFORGE_STRICT_PLUGINS"


@dataclass
class PluginInfo:
    """What happened to one plugin.

    Attributes:
        name: the entry-point name (``builtins`` for blockforge's own components).
        distribution: the distribution that provides it, or None.
        version: that distribution's version, or None.
        status: ``loaded``, ``failed`` or ``disabled``.
        error: why it failed, one line.
        components: qualified names (``kind.name``) it contributed.
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"
    error: str | None = None
    stage: str | None = None
    components: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.distribution:
            return f"{self.name} ({self.distribution} {self.version})"
        return self.name

    def to_dict(self) -> dict[str, Any]:
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

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "failed"]


class _StagingRegistrar(Registrar):
    """Collects a plugin's registrations without touching the real registries."""

    def __init__(self, registries: Registries, owner: str) -> None:
        super().__init__(registries, owner)
        self._staged: list[dict[str, Any]] = []

    def register(self, kind, name, *, params, factory, description=None):  # type: ignore[override]
        self._staged.append(
            {"kind": kind, "name": name, "params": params, "factory": factory, "description": description}
        )
        return None  # type: ignore[return-value]

    def commit(self) -> list[Component]:
        """Register everything staged; on any error, roll back and re-raise."""
        done: list[Component] = []
        try:
            for item in self._staged:
                done.append(
                    self._registries.register(
                        item["kind"],
                        item["name"],
                        params=item["params"],
                        factory=item["factory"],
                        owner=self.owner,
                        description=item["description"],
                    )
                )
        except Exception:
            for comp in done:
                self._registries[comp.kind]._items.pop(comp.name, None)
            raise
        return done


def _disabled_from_env() -> set[str]:
    raw = os.environ.get(ENV_DISABLE, "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def _strict_from_env() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in {"1", "true", "yes", "on"}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def make_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager that knows blockforge's hook specs."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    *,
    entry_points: bool = True,
    disable: Iterable[str] | None = None,
    strict: bool | None = None,
    extra: Sequence[tuple[str, object]] = (),
) -> PluginSet:
    """Load the built-ins, the ``blockforge`` entry points and ``extra`` plugins into fresh registries.

    Args:
        entry_points: discover installed plugins through the ``blockforge`` entry-point group.
        disable: plugin names to skip; ``all`` skips every third-party plugin. Defaults to the
            comma-separated ``BLOCKFORGE_DISABLE_PLUGINS`` environment variable.
        strict: make any plugin failure fatal. Defaults to ``BLOCKFORGE_STRICT_PLUGINS``.
        extra: ``(name, plugin object)`` pairs registered after the entry points (tests, notebooks).

    Returns:
        The registries and a per-plugin report.

    Raises:
        PluginError: in strict mode, when any plugin fails.
    """
    from blockforge import builtins

    disabled = set(_disabled_from_env() if disable is None else disable)
    strict = _strict_from_env() if strict is None else strict
    registries = Registries()
    pm = make_plugin_manager()
    infos: list[PluginInfo] = []

    candidates: list[tuple[PluginInfo, Any]] = [(PluginInfo(BUILTIN_PLUGIN, "blockforge", _version()), builtins)]
    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.metadata["Name"] if dist else None, dist.version if dist else None)
            if ep.name == BUILTIN_PLUGIN and info.distribution == "blockforge":
                continue
            if "all" in disabled or ep.name in disabled:
                info.status = "disabled"
                infos.append(info)
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, not ours
                _fail(info, "import", exc, strict)
                infos.append(info)
                continue
            candidates.append((info, obj))
    for name, obj in extra:
        if name in disabled:
            infos.append(PluginInfo(name, status="disabled"))
            continue
        candidates.append((PluginInfo(name), obj))

    for info, obj in candidates:
        try:
            pm.register(obj, name=info.name)
            pm.check_pending()
        except Exception as exc:  # noqa: BLE001
            _unregister(pm, info.name)
            _fail(info, "register", exc, strict)
            infos.append(info)
            continue
        registrar = _StagingRegistrar(registries, owner=info.name)
        try:
            for impl in pm.hook.blockforge_register_components.get_hookimpls():
                if impl.plugin_name == info.name:
                    impl.function(registry=registrar)
            comps = registrar.commit()
        except Exception as exc:  # noqa: BLE001
            _unregister(pm, info.name)
            _fail(info, "register", exc, strict)
            infos.append(info)
            continue
        info.components = [c.qualified_name for c in comps]
        infos.append(info)
    return PluginSet(registries, infos)


def _unregister(pm: pluggy.PluginManager, name: str) -> None:
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin, name=name)


def _fail(info: PluginInfo, stage: str, exc: BaseException, strict: bool) -> None:
    info.status = "failed"
    info.stage = stage
    info.error = _one_line(exc)
    if strict:
        raise PluginError(f"plugin {info.label} failed to {stage}: {info.error}") from exc


def _version() -> str | None:
    try:
        return metadata.version("blockforge")
    except metadata.PackageNotFoundError:
        return None


_DEFAULT: PluginSet | None = None


def default_plugins() -> PluginSet:
    """The process-wide plugin set (built-ins plus installed plugins), loaded once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_plugins()
    return _DEFAULT


def default_registries() -> Registries:
    """The registries of :func:`default_plugins`."""
    return default_plugins().registries


__all__ = [
    "BlockforgeError",
    "PluginInfo",
    "PluginSet",
    "default_plugins",
    "default_registries",
    "load_plugins",
    "make_plugin_manager",
]

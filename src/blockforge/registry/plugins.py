"""The plugin manager: built-ins and ``blockforge`` entry points register into a fresh registry set.

Every plugin is loaded on its own: it is imported, registered with pluggy (misspelt hooks are caught
by ``check_pending``), its ``blockforge_register_components`` hook is called, and its components are
checked. A failure at any of these stages is recorded on the plugin's :class:`PluginInfo` (with the
distribution's name and version, and the file:line of the plugin's own code that failed) and the
plugin is rolled back, so a broken plugin leaves no half of itself behind and the other plugins keep
working. Strict mode turns the first failure into a :class:`~blockforge.errors.PluginError`.

Containment: every exception a plugin raises is contained, ``SystemExit`` and other ``BaseException``
subclasses included; only a real Ctrl-C (a SIGINT seen by :func:`watch_interrupts`) goes through.
After each plugin, the registries and blockforge's module-level limits (upper-case constants such as
the loader's ``MAX_DEPTH``) are exactly as before it: a plugin that removes or replaces another's
component, registers under another owner's name, or changes a limit fails and is undone. A plugin
still importing after :data:`SLOW_IMPORT_S` seconds is named in a warning. Discovery reads each
installed distribution on its own: one with an unreadable ``METADATA`` or ``entry_points.txt`` is
listed as failed (stage ``discover``) and the others load; with every plugin disabled nothing is
scanned. What Python cannot contain (``os._exit``, a crash in C code) is listed in ``docs/plugins.md``.

Torch-free: importing plugins must not import torch (see ``docs/plugins.md``).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
import signal
import sys
import threading
import traceback
import types
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
ENV_DEBUG = "BLOCKFORGE_DEBUG"
SLOW_IMPORT_S = 5.0
"""After this many seconds still importing a plugin, a warning names it (the import is not cut off)."""

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
        where: ``file:line`` of the plugin's own code where it failed, when the traceback shows one.
        traceback: the full traceback of the failure (printed with ``BLOCKFORGE_DEBUG=1``).
        module: the top-level module the plugin is imported from (to name it in errors from its code).
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"
    stage: str | None = None
    error: str | None = None
    components: list[str] = field(default_factory=list)
    where: str | None = None
    traceback: str | None = None
    module: str | None = None

    @property
    def label(self) -> str:
        """``name (distribution version)``, the way every message names a plugin."""
        if self.distribution:
            return f"{self.name} ({self.distribution} {self.version or '?'})"
        return self.name

    def to_dict(self) -> dict[str, Any]:
        """This report as plain JSON-able data (``blockforge plugins --json``).

        Returns:
            ``name``, ``distribution``, ``version``, ``status``, ``stage``, ``error`` (which ends with the
            plugin's failing ``file:line``, when known) and ``components``.
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


MAX_ERROR_CHARS = 600


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line: every line of the message kept (pluggy names a misspelt hook
    argument on its third line), joined with ``; ``, cut at :data:`MAX_ERROR_CHARS`."""
    try:
        text = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    except Exception:  # noqa: BLE001 - a plugin's exception whose __str__ raises
        text = "<message could not be printed>"
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return f"{type(exc).__name__}: {text}".rstrip(": ")


_SIGINT: dict[str, bool] = {"watching": False, "seen": False}


def watch_interrupts() -> None:
    """Tell a real Ctrl-C from a ``KeyboardInterrupt`` a plugin raises (the CLI calls this at start).

    Installs a SIGINT handler that records the signal and raises ``KeyboardInterrupt`` as Python's own
    does. Only in the main thread, and only over Python's default handler. Without it (a library
    caller), every ``KeyboardInterrupt`` counts as real and is never contained.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def on_sigint(signum: int, frame: Any) -> None:
        _SIGINT["seen"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    _SIGINT["watching"] = True


def is_real_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is the user's Ctrl-C (not contained), rather than something a plugin raised.

    Args:
        exc: any exception.

    Returns:
        True for a ``KeyboardInterrupt`` after a SIGINT (or whenever :func:`watch_interrupts` is not
        installed); False for everything else.
    """
    if not isinstance(exc, KeyboardInterrupt):
        return False
    return _SIGINT["seen"] or not _SIGINT["watching"]


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``exc`` and the exceptions it was raised from or during, innermost last."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(chain) < 16:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    frames: list[traceback.FrameSummary] = []
    for e in reversed(chain):
        frames.extend(traceback.extract_tb(e.__traceback__))
    return frames


def _own_frame(exc: BaseException, module: str | None) -> str | None:
    """``file:line`` of the innermost frame of the plugin's own code (its top-level module ``module``),
    else of the innermost frame outside Python's import machinery and blockforge."""
    frames = [f for f in _frames(exc) if not f.filename.startswith("<")]
    if module:
        root = sys.modules.get(module)
        where = getattr(root, "__file__", None)
        if where:
            base = os.path.dirname(where) if os.path.basename(where) == "__init__.py" else where
            own = [f for f in frames if f.filename == base or f.filename.startswith(base + os.sep)]
            if own:
                return f"{own[-1].filename}:{own[-1].lineno}"
    blockforge_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    others = [f for f in frames if not f.filename.startswith(blockforge_dir + os.sep)
              and f"{os.sep}importlib{os.sep}" not in f.filename and f"{os.sep}pluggy{os.sep}" not in f.filename]
    return f"{others[-1].filename}:{others[-1].lineno}" if others else None


def blame(exc: BaseException, plugins: Sequence[PluginInfo] | None = None) -> tuple[PluginInfo, str] | None:
    """The plugin whose code ``exc`` passed through, innermost first, and where.

    Used by the CLI so that an error raised in (or through) a plugin's factory, ``check``, ``forward``
    or a function it patched names the plugin instead of reading as blockforge's bug.

    Args:
        exc: an exception that escaped a command.
        plugins: the plugins to look for (default: every ``blockforge`` entry point installed).

    Returns:
        ``(plugin, "file:line")`` for the innermost frame in a plugin's module, or None.
    """
    if plugins is None:
        try:
            plugins = [PluginInfo(c[0].name, c[0].distribution, c[0].version, module=c[0].module)
                       for c in _discover() if c[1] is not None]
        except Exception:  # noqa: BLE001 - naming the plugin is best effort
            return None
    by_module = {p.module: p for p in plugins if p.module and p.module != BUILTIN_MODULE.split(".")[0]}
    for f in reversed(_frames(exc)):
        for module, info in by_module.items():
            root = sys.modules.get(module)
            where = getattr(root, "__file__", None)
            if not where:
                continue
            base = os.path.dirname(where) if os.path.basename(where) == "__init__.py" else where
            if f.filename == base or f.filename.startswith(base + os.sep):
                return info, f"{f.filename}:{f.lineno}"
    return None


def prime_pydantic_plugins() -> None:
    """Let the libraries that scan every installed distribution do so now, where a malformed one cannot
    break us.

    pydantic scans every distribution's entry points the first time it builds a validator, and torch
    does at import (device-backend autoload); one unreadable ``entry_points.txt`` makes both raise, which
    would break every command. Called before blockforge defines a model: on failure, the broken
    distributions are named in one warning, pydantic's plugins stay off for this process (pydantic keeps
    an empty plugin set after a failed scan) and torch's device-backend autoload is turned off
    (``TORCH_DEVICE_BACKEND_AUTOLOAD=0``, unless already set). Uses pydantic's private
    ``pydantic.plugin._loader``; without it, nothing is done.
    """
    try:
        from pydantic.plugin._loader import get_plugins
    except ImportError:
        return
    try:
        list(get_plugins())
    except Exception as exc:  # noqa: BLE001 - an installed distribution's fault, not ours
        bad = []
        for dist in metadata.distributions():
            try:
                dist.entry_points  # noqa: B018 - parses entry_points.txt
            except Exception:  # noqa: BLE001
                bad.append(os.path.basename(str(getattr(dist, "_path", "") or "")) or repr(dist))
        os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
        log.warning("warning: installed distribution(s) %s cannot be read (%s); pydantic plugins and torch "
                    "device-backend autoload are off for this run (reinstall or remove them)",
                    ", ".join(sorted(set(bad))) or "?", _one_line(exc))


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
    if entry_points and _norm(ALL) not in is_disabled.names:  # --no-plugins scans nothing
        candidates.extend(_discover())
    for name, obj in extra:
        module = obj.__name__ if isinstance(obj, types.ModuleType) else type(obj).__module__
        candidates.append((PluginInfo(name, module=module.split(".")[0]), lambda obj=obj: obj))

    for info, load in candidates:
        why = is_disabled(info)
        if why is not None:
            info.status, info.error = "disabled", why
        elif load is None:  # discovery failed: the distribution's files could not be read
            if strict:
                raise PluginError(f"plugin {info.label} failed at {info.stage}: {info.error}")
        else:
            _load_one(pm, registries, info, load, strict=strict, checked=True)
        infos.append(info)
    return PluginSet(registries, infos, is_disabled.unmatched())


_SECTION_RE = re.compile(r"^\s*\[\s*" + ENTRY_POINT_GROUP + r"\s*\]\s*$", re.MULTILINE)


def _discover() -> list[tuple[PluginInfo, Any]]:
    """Every ``blockforge`` entry point of the installed distributions, sorted by name, each
    distribution read on its own (the first of a name on ``sys.path`` wins, as in ``importlib.metadata``).

    A distribution whose ``entry_points.txt`` names the group but cannot be read, or whose ``METADATA``
    cannot be, becomes a failed :class:`PluginInfo` (stage ``discover``) with no loader (None).
    """
    found: list[tuple[PluginInfo, Any]] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
        folder = os.path.basename(str(getattr(dist, "_path", "") or "")) or repr(dist)
        try:
            text = dist.read_text("entry_points.txt")
        except Exception as exc:  # noqa: BLE001 - undecodable bytes, an unreadable file
            text, unreadable = None, exc
        else:
            unreadable = None
        if unreadable is None and (text is None or not _SECTION_RE.search(text)):
            continue  # not a blockforge plugin (and nothing of it is read further)
        try:
            if unreadable is not None:
                raise unreadable
            name, version = dist.metadata["Name"], dist.version
            key = _norm(name or folder)
            if key in seen:
                continue
            seen.add(key)
            eps = list(dist.entry_points.select(group=ENTRY_POINT_GROUP))
        except Exception as exc:  # noqa: BLE001 - a malformed distribution is listed, not fatal
            if "dist:" + folder in seen:
                continue
            seen.add("dist:" + folder)
            bad = PluginInfo(folder, status="failed", stage="discover",
                             error=f"{_one_line(exc)} (reading {folder}; reinstall or remove that distribution)")
            found.append((bad, None))
            continue
        for ep in eps:
            if ep.name == BUILTIN_PLUGIN and name == "blockforge":
                continue
            info = PluginInfo(ep.name, name, version, module=ep.module.split(".")[0])
            found.append((info, ep.load))
    found.sort(key=lambda c: c[0].name)
    return found


def _load_one(
    pm: pluggy.PluginManager, registries: Registries, info: PluginInfo, load: Any, *, strict: bool, checked: bool
) -> None:
    """Import, register, call and check one plugin; on failure record why and roll it back (registries,
    pluggy, limits). Everything the plugin raises is contained except a real Ctrl-C."""
    before, limits = registries.snapshot(), _limits()
    stage = "import"
    obj = None
    try:
        with _slow_import_warning(info):
            obj = load()
        if info.module is None:
            name = obj.__name__ if isinstance(obj, types.ModuleType) else type(obj).__module__
            info.module = name.split(".")[0]
        stage = "register"
        pm.register(obj, name=info.name)
        if not pm.get_hookcallers(obj):
            raise NoHooksError(
                f"{obj!r} implements no blockforge_* hook; does the entry point name the module "
                "that holds the @hookimpl functions?"
            )
        pm.check_pending()
        registrar = Registrar(registries, owner=info.name)
        stage = "hook"
        for impl in pm.hook.blockforge_register_components.get_hookimpls():
            if impl.plugin is obj:
                impl.function(**{arg: registrar for arg in impl.argnames})  # 0 or 1 argument
        _check_untouched(info, before, registries.snapshot(), limits)
        stage = "check"
        added = _added(before, registries.snapshot())
        if checked:
            for comp in added:
                check_component(pm, comp, registries)
    except BaseException as exc:  # noqa: BLE001 - contain all a plugin raises (SystemExit too) but Ctrl-C
        registries.restore(before)
        _restore_limits(limits)
        if obj is not None:
            _unregister(pm, obj)
        if is_real_interrupt(exc):
            raise
        _fail(info, stage, exc, strict)
        return
    info.components = [c.qualified_name for c in added]


def _limits() -> dict[tuple[str, str], Any]:
    """blockforge's module-level limits: the upper-case constants of its imported modules (immutable values)."""
    found: dict[tuple[str, str], Any] = {}
    for mod_name, mod in list(sys.modules.items()):
        if not (mod_name == "blockforge" or mod_name.startswith("blockforge.")) or mod is None:
            continue
        for key, value in list(vars(mod).items()):
            if key.isupper() and isinstance(value, (int, float, str, bytes, tuple, frozenset, type(None))):
                found[(mod_name, key)] = value
    return found


def _restore_limits(limits: dict[tuple[str, str], Any]) -> list[str]:
    """Put back every limit a plugin changed; the names of those it had changed."""
    changed = []
    for (mod_name, key), value in limits.items():
        mod = sys.modules.get(mod_name)
        if mod is not None and getattr(mod, key, value) is not value and getattr(mod, key, value) != value:
            changed.append(f"{mod_name}.{key}")
            setattr(mod, key, value)
    return changed


def _added(before: dict[str, dict[str, Component]], after: dict[str, dict[str, Component]]) -> list[Component]:
    return [c for kind, items in after.items() for name, c in items.items() if name not in before.get(kind, {})]


def _check_untouched(info: PluginInfo, before: dict[str, dict[str, Component]],
                     after: dict[str, dict[str, Component]], limits: dict[tuple[str, str], Any]) -> None:
    """Refuse a plugin that changed what is not its own: another's component, an owner, a limit."""
    problems = []
    for kind, items in before.items():
        for name, comp in items.items():
            now = after.get(kind, {}).get(name)
            if now is None:
                problems.append(f"removed {kind}.{name} (owned by {comp.owner!r})")
            elif now is not comp:
                claim = f", claiming the owner {now.owner!r}" if now.owner != info.name else ""
                problems.append(f"replaced {kind}.{name} (owned by {comp.owner!r}){claim}")
    for comp in _added(before, after):
        if comp.owner != info.name:
            problems.append(f"registered {comp.qualified_name} under the owner {comp.owner!r}, not its own name")
    for (mod_name, key), value in limits.items():
        mod = sys.modules.get(mod_name)
        if mod is not None and getattr(mod, key, value) != value:
            problems.append(f"changed blockforge's limit {mod_name}.{key}")
    if problems:
        raise TamperError("; ".join(problems) + " (a plugin may only add components of its own)")


class _slow_import_warning:
    """Warn, naming the plugin, when its import is still running after :data:`SLOW_IMPORT_S` seconds."""

    def __init__(self, info: PluginInfo) -> None:
        self.info = info
        self.timer: threading.Timer | None = None

    def __enter__(self) -> None:
        def warn() -> None:
            sys.stderr.write(f"warning: plugin {self.info.label} is still importing after {SLOW_IMPORT_S:g} s "
                             f"(skip it with --disable-plugin {self.info.name})\n")
            sys.stderr.flush()

        self.timer = threading.Timer(SLOW_IMPORT_S, warn)
        self.timer.daemon = True
        self.timer.start()

    def __exit__(self, *exc: object) -> None:
        if self.timer is not None:
            self.timer.cancel()


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


class TamperError(BlockforgeError):
    """A plugin changed what is not its own (another's component, an owner, a limit); it was undone."""


def _unregister(pm: pluggy.PluginManager, obj: object) -> None:
    if pm.is_registered(obj):
        pm.unregister(obj)


def _fail(info: PluginInfo, stage: str, exc: BaseException, strict: bool) -> None:
    info.status = "failed"
    info.stage = stage
    info.where = _own_frame(exc, info.module)
    info.traceback = "".join(traceback.format_exception(exc))
    info.error = _one_line(exc) + (f" (at {info.where})" if info.where else "")
    if strict:
        debug = f"\n{info.traceback}" if os.environ.get(ENV_DEBUG) else ""
        raise PluginError(f"plugin {info.label} failed at {stage}: {info.error}{debug}") from exc


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
    debug = bool(os.environ.get(ENV_DEBUG))
    for info in ps.failures:
        log.warning(
            "warning: plugin %s failed at %s and was skipped: %s (see `blockforge plugins`)%s",
            info.label, info.stage, info.error, f"\n{info.traceback}" if debug and info.traceback else "",
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
    "TamperError",
    "blame",
    "check_component",
    "is_real_interrupt",
    "watch_interrupts",
    "forget_default_plugins",
    "prime_pydantic_plugins",
    "default_plugins",
    "default_registries",
    "load_plugins",
    "make_plugin_manager",
]

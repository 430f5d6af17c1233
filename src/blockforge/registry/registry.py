"""Registries: one object per component kind, mapping a name to (parameter model, factory, owner).

Torch-free. Tests build fresh registries; nothing here is a module-level global.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from blockforge.errors import DuplicateComponentError, RegistryError, UnknownComponentError
from blockforge.registry.context import BuildContext
from blockforge.registry.kinds import Kind

if TYPE_CHECKING:
    import torch.nn as nn

T = TypeVar("T")

Factory = Callable[[Any, BuildContext], "nn.Module"]
"""A component factory: ``(validated params, context) -> nn.Module``. Imports torch lazily."""

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_FIELDS = frozenset({"type"})


@dataclass(frozen=True)
class Component:
    """A registered component.

    Attributes:
        kind: the kind it belongs to.
        name: the name a spec uses in ``type:``.
        params: the pydantic model of its parameters (its contract and its documentation).
        factory: builds the module from validated parameters and the build context.
        owner: the plugin that registered it (``builtins`` for blockforge's own).
        description: one line for listings; defaults to the first line of the params docstring.
    """

    kind: Kind
    name: str
    params: type[BaseModel]
    factory: Factory
    owner: str
    description: str

    @property
    def qualified_name(self) -> str:
        """``kind.name``, e.g. ``attention.mha``: how listings and plugin reports name the component."""
        return f"{self.kind}.{self.name}"


def _check_factory_signature(kind: Kind, name: str, owner: str, factory: Factory) -> None:
    """Refuse a factory that cannot be called as ``factory(params, ctx)``."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins and C callables may have no signature; trust them
        return
    try:
        sig.bind(None, None)
    except TypeError as exc:
        raise RegistryError(
            f"{kind}.{name} from {owner}: factory {getattr(factory, '__qualname__', factory)!r} must accept "
            f"(params, ctx), but its signature is {sig} ({exc})"
        ) from None


class Registry:
    """The components of one kind.

    Args:
        kind: the kind this registry holds.
    """

    def __init__(self, kind: Kind | str) -> None:
        self.kind = Kind(kind)
        self._items: dict[str, Component] = {}

    def register(
        self,
        name: str,
        *,
        params: type[BaseModel],
        factory: Factory,
        owner: str = "<user>",
        description: str | None = None,
    ) -> Component:
        """Add a component.

        Args:
            name: lowercase identifier used as ``type:`` in specs (``[a-z][a-z0-9_]*``).
            params: pydantic model of the component's parameters; must not define ``type``.
            factory: callable ``(params, ctx) -> nn.Module``.
            owner: who registers it; shown in listings and in duplicate errors.
            description: one-line description; defaults to the params docstring's first line.

        Returns:
            The registered component.

        Raises:
            DuplicateComponentError: the name is taken; the message names both owners.
            RegistryError: the name, parameter model or factory is malformed.
        """
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise RegistryError(
                f"invalid {self.kind} component name {name!r} from {owner}: "
                "use lowercase letters, digits and '_', starting with a letter"
            )
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise RegistryError(
                f"{self.kind}.{name} from {owner}: params must be a pydantic BaseModel subclass, "
                f"got {params!r}"
            )
        clash = RESERVED_FIELDS.intersection(params.model_fields)
        if clash:
            raise RegistryError(
                f"{self.kind}.{name} from {owner}: params model {params.__name__} defines reserved "
                f"field(s) {sorted(clash)}; 'type' is added by blockforge"
            )
        if not callable(factory):
            raise RegistryError(f"{self.kind}.{name} from {owner}: factory {factory!r} is not callable")
        _check_factory_signature(self.kind, name, owner, factory)
        if name in self._items:
            prev = self._items[name]
            raise DuplicateComponentError(
                f"{self.kind} component {name!r} is registered by both {prev.owner!r} and {owner!r}"
            )
        if description is None:
            description = next(iter((params.__doc__ or "").strip().splitlines()), "")
        comp = Component(self.kind, name, params, factory, owner, description.strip())
        self._items[name] = comp
        return comp

    def remove(self, name: str) -> Component:
        """Remove a component (used to roll back a plugin whose registration failed half-way).

        Args:
            name: the registered name.

        Returns:
            The removed :class:`Component`.

        Raises:
            UnknownComponentError: the name is not registered.
        """
        comp = self.get(name)
        del self._items[name]
        return comp

    def get(self, name: str) -> Component:
        """Look a component up by name.

        Args:
            name: what a spec writes as ``type:``.

        Returns:
            The registered :class:`Component`.

        Raises:
            UnknownComponentError: with the nearest registered names.
        """
        try:
            return self._items[name]
        except KeyError:
            raise UnknownComponentError(self.kind.value, name, self._items) from None

    def names(self) -> list[str]:
        """The registered names.

        Returns:
            The names, sorted.
        """
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Component]:
        return iter(sorted(self._items.values(), key=lambda c: c.name))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind.value!r}, {self.names()})"


class Registries(Mapping[str, Registry]):
    """One :class:`Registry` per :class:`Kind`, the set a spec is validated and built against."""

    def __init__(self) -> None:
        self._by_kind: dict[Kind, Registry] = {k: Registry(k) for k in Kind}
        self._derived: dict[str, tuple[tuple[tuple[str, str, int], ...], Any]] = {}

    def __getitem__(self, kind: str) -> Registry:
        try:
            return self._by_kind[Kind(kind)]
        except ValueError:
            raise RegistryError(
                f"unknown component kind {kind!r}; kinds are {', '.join(k.value for k in Kind)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(k.value for k in self._by_kind)

    def __len__(self) -> int:
        return len(self._by_kind)

    def register(
        self,
        kind: Kind | str,
        name: str,
        *,
        params: type[BaseModel],
        factory: Factory,
        owner: str = "<user>",
        description: str | None = None,
    ) -> Component:
        """Register a component in the registry of ``kind``; see :meth:`Registry.register`.

        Args:
            kind: the component kind.
            name: what a spec writes as ``type:``.
            params: the parameter model.
            factory: ``(params, ctx) -> nn.Module``.
            owner: the plugin that provides it, shown in listings and errors.
            description: listing text; defaults to the first line of ``params``' docstring.

        Returns:
            The registered :class:`Component`.

        Raises:
            DuplicateComponentError: the name is taken in that kind; the message names both owners.
            RegistryError: malformed name, params or factory, or an unknown kind.
        """
        return self[kind].register(
            name, params=params, factory=factory, owner=owner, description=description
        )

    def components(self) -> Iterator[Component]:
        """Every registered component.

        Returns:
            An iterator over the components, by kind then name.
        """
        for reg in self._by_kind.values():
            yield from reg

    def snapshot(self) -> dict[str, dict[str, Component]]:
        """What is registered now, to put back with :meth:`restore` (the plugin loader's rollback).

        Returns:
            ``{kind: {name: Component}}``, a copy.
        """
        return {k.value: dict(reg._items) for k, reg in self._by_kind.items()}

    def restore(self, snapshot: dict[str, dict[str, Component]]) -> None:
        """Make the registered contents exactly ``snapshot`` again (whatever was added, removed or replaced).

        Args:
            snapshot: a value of :meth:`snapshot`.
        """
        for k, reg in self._by_kind.items():
            reg._items.clear()
            reg._items.update(snapshot.get(k.value, {}))

    def fingerprint(self) -> tuple[tuple[str, str, int], ...]:
        """An identity of the registered contents, for caching bound spec models.

        Returns:
            ``(kind, name, id(params))`` of every component; equal while nothing is registered or removed.
        """
        return tuple((c.kind.value, c.name, id(c.params)) for c in self.components())

    def derived(self, key: str, make: Callable[[Registries], T]) -> T:
        """A value computed from this registry set, cached on it until a component is registered or removed.

        The spec side keeps its bound models here (``spec.binding.binder``): the cache lives on what it
        caches, and a changed registry set never serves a stale value.

        Args:
            key: names the derived value (one per kind of value, e.g. ``"binder"``).
            make: computes it from this registry set.

        Returns:
            The cached value, or ``make(self)`` (then cached) when absent or made for other contents.
        """
        fp = self.fingerprint()
        hit = self._derived.get(key)
        if hit is None or hit[0] != fp:
            hit = self._derived[key] = (fp, make(self))
        return hit[1]


class Registrar:
    """What a plugin's ``blockforge_register_components`` hook receives.

    Every registration through it is owned by the plugin, so listings and duplicate errors name the
    plugin without the plugin having to say who it is.

    Args:
        registries: where to register.
        owner: the plugin name.
    """

    def __init__(self, registries: Registries, owner: str) -> None:
        self._registries = registries
        self.owner = owner
        self.registered: list[Component] = []

    def register(
        self,
        kind: Kind | str,
        name: str,
        *,
        params: type[BaseModel],
        factory: Factory,
        description: str | None = None,
    ) -> Component:
        """Register a component owned by this plugin.

        Args:
            kind: one of :class:`Kind` (``"attention"``, ``"norm"``, ...).
            name: the ``type:`` name specs use.
            params: pydantic model of the parameters (torch-free).
            factory: ``(params, ctx) -> nn.Module``; import torch inside it, not at module top.
            description: one line for ``blockforge components``.

        Returns:
            The registered component.

        Raises:
            DuplicateComponentError: the name is taken in that kind.
            RegistryError: malformed name, params or factory, or unknown kind.
        """
        comp = self._registries.register(
            kind, name, params=params, factory=factory, owner=self.owner, description=description
        )
        self.registered.append(comp)
        return comp

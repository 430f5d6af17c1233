"""Bind component slots to a registry set: every slot becomes a union discriminated by ``type``.

Binding derives, for a registry set, concrete subclasses of the parameter models in which each
``ComponentSlot`` field is the tagged union of the registered components of its kind. Pydantic then
validates a whole spec in one pass (all errors at once) and exports the JSON Schema of exactly what
is installed. Torch-free.
"""

from __future__ import annotations

import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, Discriminator, Tag, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from blockforge.registry.kinds import Kind
from blockforge.registry.registry import Component, Registries
from blockforge.spec.params import Params
from blockforge.spec.slots import ComponentSlot, Shape, field_annotation, shape_of


def _shorthand(value: Any) -> Any:
    """A bare string ``relu`` is shorthand for ``{type: relu}``."""
    return {"type": value} if isinstance(value, str) else value


def expanded(value: Any) -> Any:
    """The expanded form of a component reference: a bare name ``relu`` is ``{type: relu}``; a validated
    parameter model is its plain values (with ``type``); anything else is returned as is."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


_COMPONENT_CONFIG: dict[str, Any] = dict(  # class keywords: create_model takes no __config__ beside __base__
    extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False,
    use_attribute_docstrings=False,  # descriptions are inherited; re-reading them from source finds nothing new
)
"""The rules every bound component model keeps (see :class:`~blockforge.spec.params.Params`)."""

MAX_ALIAS_DEPTH = 8
"""Longest chain of aliases followed (an alias may expand to another alias)."""


class _Expand:
    """The after-validator of a slot: an alias (:meth:`Params.expands_to`) becomes the component it stands
    for, validated in the same slot, so that both spellings are one validated spec."""

    def __init__(self, binder: Binder, kind: Kind) -> None:
        self.binder = binder
        self.kind = kind

    def __call__(self, value: Any) -> Any:
        for _ in range(MAX_ALIAS_DEPTH):
            expansion = value.expands_to() if isinstance(value, Params) else None
            if expansion is None:
                return value
            value = self.binder.adapter(self.kind).validate_python(expansion)
        raise ValueError(f"alias chain longer than {MAX_ALIAS_DEPTH} at {type_of(value)!r}")


class _OverDefault:
    """The before-validator of a slot whose field has a default component: a mapping without ``type``
    patches that default (merged over its expanded form), as it would patch a component written in a base
    spec; a bare name is ``{type: name}``."""

    def __init__(self, default: Any) -> None:
        self.default = expanded(default)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and "type" not in value:
            from blockforge.spec.merge import merge

            return merge(self.default, value).value
        return _shorthand(value)


def default_component(info: FieldInfo) -> Any:
    """The expanded default component of a slot field (``{type: name, ...}``), or None when the field is
    required or defaults to None."""
    if info.is_required() or info.default_factory is not None:
        return None
    default = expanded(info.default)
    return default if isinstance(default, dict) and isinstance(default.get("type"), str) else None


def type_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        t = value.get("type")
        return t if isinstance(t, str) else None
    return getattr(value, "type", None)


def _empty_kind(kind: Kind) -> Any:
    def refuse(value: Any) -> Any:
        raise PydanticCustomError(
            "no_components", "no {kind} components are registered", {"kind": kind.value}
        )

    return Annotated[Any, BeforeValidator(refuse)]


class Binder:
    """Derives bound parameter models for one registry set (memoised per original model).

    Args:
        registries: the registries whose components the slots may name.
    """

    def __init__(self, registries: Registries) -> None:
        self.registries = registries
        self._models: dict[type[BaseModel], type[BaseModel]] = {}
        self._components: dict[tuple[str, str], type[BaseModel]] = {}
        self._slots: dict[tuple[Kind, str | None], Any] = {}
        self._in_progress: set[type[BaseModel]] = set()
        self._adapters: dict[Kind, TypeAdapter[Any]] = {}

    def component_model(self, comp: Component) -> type[BaseModel]:
        """The bound parameter model of a registered component.

        Args:
            comp: the component.

        Returns:
            A cached subclass of ``comp.params`` with its slots bound and ``type: Literal[name]`` added.
        """
        key = (comp.kind.value, comp.name)
        if key not in self._components:
            base = self.model(comp.params)
            self._components[key] = create_model(
                f"{comp.kind.value}.{comp.name}",
                __base__=base,
                __module__=comp.params.__module__,
                __qualname__=f"{comp.params.__qualname__}[{comp.name}]",
                __doc__=comp.params.__doc__,
                __namespace__={"__blockforge_kind__": comp.kind.value, "__blockforge_name__": comp.name},
                __cls_kwargs__=_COMPONENT_CONFIG,  # Params' rules, also for a plain BaseModel plugin model
                type=(Literal[comp.name], FieldInfo(default=comp.name, description=f"`{comp.name}`: {comp.description}")),
            )
        return self._components[key]

    def slot(self, kind: Kind, default: dict[str, Any] | None = None) -> Any:
        """The annotation a slot of ``kind`` is bound to.

        Args:
            kind: the component kind.
            default: the expanded default component of the field (see :func:`default_component`), if any.

        Returns:
            The union of every registered component of ``kind``, discriminated by ``type`` (a bare name is
            accepted as ``{type: name}``; with a ``default``, a mapping without ``type`` patches the
            default); a type that accepts nothing when the kind is empty.
        """
        key = (kind, json.dumps(default, sort_keys=True) if default is not None else None)
        if key not in self._slots:
            choices = [Annotated[self.component_model(c), Tag(c.name)] for c in self.registries[kind]]
            if not choices:
                self._slots[key] = _empty_kind(kind)
            else:
                union = choices[0] if len(choices) == 1 else Union[tuple(choices)]  # noqa: UP007
                self._slots[key] = Annotated[
                    union,  # type: ignore[valid-type]
                    Discriminator(type_of),
                    AfterValidator(_Expand(self, kind)),
                    BeforeValidator(_shorthand if default is None else _OverDefault(default)),
                ]
        return self._slots[key]

    def adapter(self, kind: Kind) -> TypeAdapter[Any]:
        """The (cached) ``TypeAdapter`` of one reference of ``kind`` (see :func:`slot_adapter`)."""
        if kind not in self._adapters:
            self._adapters[kind] = TypeAdapter(self.slot(kind))
        return self._adapters[kind]

    def annotation(self, tp: Any, default: dict[str, Any] | None = None) -> Any:
        """Rewrite an annotation, replacing slots and models by their bound versions.

        Args:
            tp: an unbound annotation (containers, ``Optional`` and ``Annotated`` are followed).
            default: the field's expanded default component, for a slot (see :meth:`slot`).

        Returns:
            The bound annotation; ``tp`` itself when nothing in it needs binding.
        """
        origin = get_origin(tp)
        if origin is Annotated:
            base, *meta = get_args(tp)
            for m in meta:
                if isinstance(m, ComponentSlot):
                    return self.slot(m.kind, default)
            new = self.annotation(base, default)
            return tp if new is base else Annotated[(new, *meta)]  # type: ignore[valid-type]
        if origin in (Union, types.UnionType):
            args = get_args(tp)
            new_args = tuple(self.annotation(a, default) for a in args)
            return tp if new_args == args else Union[new_args]  # noqa: UP007
        if origin in (list, dict, tuple):
            args = get_args(tp)
            new_args = tuple(self.annotation(a) if a is not Ellipsis else a for a in args)
            return tp if new_args == args else origin[new_args]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return self.model(tp)
        return tp

    def model(self, cls: type[BaseModel]) -> type[BaseModel]:
        """Bind every slot-typed field of a model, at any depth.

        Args:
            cls: a pydantic model class.

        Returns:
            A cached subclass of ``cls`` with bound fields; ``cls`` itself if it has none.

        Raises:
            TypeError: ``cls`` refers to itself through component slots.
        """
        if cls in self._models:
            return self._models[cls]
        if cls in self._in_progress:
            raise TypeError(f"{cls.__name__} refers to itself through component slots; not supported")
        self._in_progress.add(cls)
        try:
            annotations: dict[str, Any] = {}
            fields: dict[str, Any] = {}
            for name, info in cls.model_fields.items():
                tp = field_annotation(info)
                new = self.annotation(tp, default_component(info))
                if new is not tp:
                    annotations[name] = new
                    kept = {
                        k: v
                        for k, v in info._attributes_set.items()  # defaults, descriptions, aliases
                        if k not in ("annotation", "metadata")
                    }
                    if info.description is not None:  # from the field's docstring, read once on ``cls``
                        kept["description"] = info.description
                    fields[name] = FieldInfo(**kept)
            if not annotations:
                bound = cls
            else:
                bound = create_model(
                    cls.__name__, __base__=cls, __module__=cls.__module__, __qualname__=cls.__qualname__,
                    __doc__=cls.__doc__, **{name: (annotations[name], fields[name]) for name in annotations},
                )
            self._models[cls] = bound
            return bound
        finally:
            self._in_progress.discard(cls)


def binder(registries: Registries) -> Binder:
    """The (cached) :class:`Binder` of a registry set.

    Args:
        registries: the registry set; the cache is dropped when its contents change.

    Returns:
        The binder.
    """
    return registries.derived("binder", Binder)


def slot_adapter(registries: Registries, kind: Kind | str) -> TypeAdapter[Any]:
    """A (cached) pydantic ``TypeAdapter`` validating one reference of ``kind`` against ``registries``.

    Args:
        registries: where names resolve.
        kind: the component kind.

    Returns:
        The adapter; ``adapter.validate_python({"type": "mha", "heads": 2})`` gives a bound parameter model.
    """
    return binder(registries).adapter(Kind(kind))


def bind(cls: type[BaseModel], registries: Registries) -> type[BaseModel]:
    """Return ``cls`` bound to ``registries`` (cached on the registry set).

    Args:
        cls: an unbound model, typically :class:`blockforge.spec.models.SpecFile`.
        registries: the registries the spec's component names resolve against.

    Returns:
        A subclass of ``cls`` that pydantic can validate a whole spec with.
    """
    return binder(registries).model(cls)

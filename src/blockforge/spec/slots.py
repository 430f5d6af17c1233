"""What an annotation is, for walking a spec: component slots, models, containers. Torch-free.

Imported by both :mod:`blockforge.spec.params` and :mod:`blockforge.spec.binding` (no cycle between them).
"""

from __future__ import annotations

import collections.abc
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from blockforge.registry.kinds import Kind


Attends = Literal["self", "memory"]
"""What a mixer or block attends to, which fixes how it is called.

* ``self``: within one sequence, called as ``m(x, mask=..., positions=...)`` (``mha``, ``lstm``, ``transformer``).
* ``memory``: to an encoder's output, called with ``memory=`` and ``memory_mask=`` (``cross_mha``, ``decoder``).
"""


@dataclass(frozen=True)
class ComponentSlot:
    """Marks a field as a reference to a registered component of ``kind``.

    Attributes:
        kind: the component kind.
        attends: what the slot takes (see :data:`Attends`); a component whose parameter model declares
            another ``attends`` is refused at validation, with the component, its plugin and the slot named.
    """

    kind: Kind
    attends: Attends = "self"


@dataclass(frozen=True)
class Shape:
    """What an annotation is, as far as walking a spec goes."""

    what: str  # "slot", "model", "list", "dict", "other"
    kind: Kind | None = None
    model: type[BaseModel] | None = None
    item: Any = None


def field_annotation(info: FieldInfo) -> Any:
    """A field's annotation with its ``Annotated`` metadata put back.

    Args:
        info: a pydantic field.

    Returns:
        ``Annotated[annotation, *metadata]``, or the bare annotation when there is no metadata.
    """
    if info.metadata:
        return Annotated[(info.annotation, *info.metadata)]  # type: ignore[valid-type]
    return info.annotation


def shape_of(tp: Any) -> Shape:
    """Classify an (unbound) annotation for walking a spec.

    Args:
        tp: an annotation, e.g. ``AttentionRef``, ``NormRef | None``, ``list[int]``, a parameter model.

    Returns:
        A :class:`Shape`: a component slot (with its kind), a model, a container (with its item type),
        or ``other``; ``Optional`` and ``Annotated`` are looked through.
    """
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        for m in meta:
            if isinstance(m, ComponentSlot):
                return Shape("slot", kind=m.kind)
        return shape_of(base)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        shapes = [shape_of(a) for a in args]
        for s in shapes:  # Optional[X] and X | Y: the first structured member decides
            if s.what != "other":
                return s
        return Shape("other")
    if origin in (list, tuple, typing.Sequence, collections.abc.Sequence):
        args = get_args(tp)
        return Shape("list", item=args[0] if args else Any)
    if origin in (dict, typing.Mapping, collections.abc.Mapping):
        args = get_args(tp)
        return Shape("dict", item=args[1] if len(args) == 2 else Any)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return Shape("model", model=tp)
    return Shape("other")



def slot_of(model: type[BaseModel], name: str) -> ComponentSlot | None:
    """The :class:`ComponentSlot` of field ``name`` of ``model``, read from the unbound class in the MRO.

    Args:
        model: a (bound or unbound) parameter model class.
        name: a field name.

    Returns:
        The slot, or None if the field is not a component slot.
    """
    for cls in model.__mro__:
        fields = cls.__dict__.get("__pydantic_fields__")
        info = fields.get(name) if isinstance(fields, dict) else None
        if info is None:
            continue
        tp = field_annotation(info)
        stack = [tp]
        while stack:
            t = stack.pop()
            if get_origin(t) is Annotated:
                base, *meta = get_args(t)
                for m in meta:
                    if isinstance(m, ComponentSlot):
                        return m
                stack.append(base)
            elif get_origin(t) in (Union, types.UnionType):
                stack.extend(get_args(t))
    return None


__all__ = ["Attends", "ComponentSlot", "slot_of", "Shape", "field_annotation", "shape_of"]

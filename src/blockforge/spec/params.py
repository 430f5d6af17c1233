"""The base of every parameter model, and the component slots that reference other components.

A field typed with a slot (``attention: AttentionRef``) accepts ``{type: name, ...params}`` or a
bare ``name``; when a spec is validated the slot becomes a union of every registered component of
that kind, discriminated by ``type``. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from blockforge.registry.kinds import Kind

if TYPE_CHECKING:
    from blockforge.registry.context import BuildContext


class Params(BaseModel):
    """Base class for component parameter models: strict, frozen, documented by field docstrings.

    Subclasses may define :meth:`check` for contracts that need the build context (for example
    ``d_model`` divisible by ``heads``); it runs during validation, before anything is built.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_default=True,
        use_attribute_docstrings=True,
        protected_namespaces=(),
    )

    # Set on the bound subclasses blockforge derives for a registry (see spec.binding).
    __blockforge_kind__: ClassVar[str | None] = None
    __blockforge_name__: ClassVar[str | None] = None

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Yield ``(field, message)`` for each shape contract this component breaks in ``ctx``."""
        return ()


def examples_of(params: type[BaseModel]) -> list[dict[str, Any]]:
    """The example parameter sets a model declares (``json_schema_extra={"examples": [...]}``).

    A component whose parameters all have defaults gets ``[{}]``. The registry-driven tests build
    every registered component from each of its examples, so every component needs one.
    """
    extra = params.model_config.get("json_schema_extra")
    examples = list(extra.get("examples", [])) if isinstance(extra, dict) else []
    if examples:
        return examples
    required = [n for n, f in params.model_fields.items() if f.is_required()]
    return [] if required else [{}]


@dataclass(frozen=True)
class ComponentSlot:
    """Marks a field as a reference to a registered component of ``kind``."""

    kind: Kind


def Ref(kind: Kind | str) -> Any:  # noqa: N802 - reads as a type in annotations
    """The annotation of a field that references a component of ``kind``."""
    return Annotated[Any, ComponentSlot(Kind(kind))]


AttentionRef = Annotated[Any, ComponentSlot(Kind.ATTENTION)]
ActivationRef = Annotated[Any, ComponentSlot(Kind.ACTIVATION)]
NormRef = Annotated[Any, ComponentSlot(Kind.NORM)]
FeedForwardRef = Annotated[Any, ComponentSlot(Kind.FEEDFORWARD)]
PositionalRef = Annotated[Any, ComponentSlot(Kind.POSITIONAL)]
EmbeddingRef = Annotated[Any, ComponentSlot(Kind.EMBEDDING)]
BlockRef = Annotated[Any, ComponentSlot(Kind.BLOCK)]
HeadRef = Annotated[Any, ComponentSlot(Kind.HEAD)]
ModelRef = Annotated[Any, ComponentSlot(Kind.MODEL)]

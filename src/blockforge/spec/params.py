"""The base of every parameter model, and the component slots that reference other components.

A field typed with a slot (``attention: AttentionRef``) accepts ``{type: name, ...params}`` or a
bare ``name``; when a spec is validated the slot becomes a union of every registered component of
that kind, discriminated by ``type``. Torch-free.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from blockforge.registry.kinds import Kind
from blockforge.spec.slots import Attends, ComponentSlot, field_annotation, shape_of

if TYPE_CHECKING:
    from blockforge.registry.context import BuildContext


PositionUse = Literal["applies", "inherent", "ignores", "cross"]
"""What a sequence mixer (``attention`` kind) does with the ``positions=`` it is called with.

* ``applies``: it applies them (rotates queries and keys by RoPE, adds ALiBi's score bias), like ``mha``.
* ``inherent``: it ignores them, but knows token order itself (recurrence, causal convolution), like ``lstm``.
* ``ignores``: it ignores them and is order-blind, so it needs an encoding added to the embeddings
  (``sinusoidal``, ``learned``); with ``rope`` or ``alibi`` such a mixer is a validation error. The default.
* ``cross``: a cross-attention, called as ``m(x, memory=..., memory_mask=...)`` without ``positions``.
"""


class Params(BaseModel):
    """Base class for component parameter models: strict, frozen, documented by field docstrings.

    Subclasses may define :meth:`check` for contracts that need the build context (for example
    ``d_model`` divisible by ``heads``); it runs during validation, before anything is built.

    Two class attributes declare how a component takes part in position handling; blockforge checks
    them against each other when a spec is validated (see ``docs/plugins.md``, "Positions"):

    * ``uses_positions`` (``attention`` kind): a :data:`PositionUse`; default ``"ignores"``.
    * ``attends`` (``attention`` and ``block`` kinds): ``"self"`` or ``"memory"`` (cross-attention, decoder
      blocks); a slot declares which it takes, and validation refuses the other.
    * ``attention_positions`` (``positional`` kind): True if the encoding acts inside attention through
      ``positions=`` (RoPE, ALiBi) rather than being added to the embeddings; default False.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # Strict: a number field takes a number, not a boolean (`n_layers: yes`) nor a string
        # (`hidden: "384"`), the same from YAML, JSON and --set as in the exported JSON Schema
        # (an int is still accepted where a float goes).
        strict=True,
        # Finite: `.inf` and `.nan` are refused (JSON cannot write them either); a field that takes
        # them says so with `Field(allow_inf_nan=True)` and documents it.
        allow_inf_nan=False,
        validate_default=True,
        # Field docstrings are read on demand (field_docs; the schema and listings add them without touching
        # the class), not by pydantic's use_attribute_docstrings: measured (issue 11 item 8), loading the
        # built-ins takes 257 ms with it and 125 ms without (median of 8 alternating fresh processes, 2-core CI
        # machine: `load_plugins(entry_points=False)` after `import blockforge.spec.params`), a cost every
        # `blockforge validate` would pay while only schema, listings and hints show the docstrings.
        use_attribute_docstrings=False,
        protected_namespaces=(),
        defer_build=True,  # the bound subclasses (spec.binding) are what validates; build their schema only
    )

    # Set on the bound subclasses blockforge derives for a registry (see spec.binding).
    __blockforge_kind__: ClassVar[str | None] = None
    __blockforge_name__: ClassVar[str | None] = None

    # Declared by component authors (class attributes, not spec fields).
    uses_positions: ClassVar[PositionUse] = "ignores"
    attention_positions: ClassVar[bool] = False
    attends: ClassVar[Attends] = "self"
    """What the component attends to (``attention`` and ``block`` kinds): ``self`` (one sequence) or
    ``memory`` (an encoder's output: ``cross_mha``, the ``decoder`` block). A slot takes only components
    that declare what it takes (``Ref(kind, attends=...)``); checked at validation."""

    def expands_to(self) -> dict[str, Any] | None:
        """For an alias, the reference it stands for; None for a component in its own right.

        An alias is a short name for another component with some parameters fixed (``swiglu`` is
        ``{type: glu, activation: silu}``). Validation replaces it by its expansion, so both spellings are
        one architecture: the same resolved spec, hash and module. The alias's own parameter model still
        validates what the user wrote (its errors name the alias's keys).

        Returns:
            ``{type: name, ...params}`` of the same kind (it may be an alias itself), or None.
        """
        return None

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Yield the shape contracts this component breaks in ``ctx``.

        Args:
            ctx: the build context of the model being validated (``d_model``, ``max_len``, ...).

        Returns:
            An iterable of ``(field, message)``: ``field`` names the offending parameter (``""`` for
            the component as a whole); ``message`` says what is wrong and what would be valid.
        """
        return ()

    def replicas(self) -> int:
        """How many copies of a sub-network this component builds (a mixture of experts: its experts).

        Validation bounds the sum over a model's resolved layers (:data:`MAX_REPLICAS`), so that every valid
        spec builds and summarises on the meta device in seconds. Components that build one of each
        sub-module keep the default, 1.
        """
        return 1

    def sees_future(self, ctx: BuildContext) -> str | None:
        """Whether this component lets a position see later positions of its own sequence, and why.

        ``validate`` and summaries name a language model (``ctx.causal``) with such a mixer as not causal.
        Sequence mixers override it; the default says nothing (None), as for components that mix no
        positions.

        Args:
            ctx: the build context (``ctx.causal``: the model's default for a causality left unsaid).

        Returns:
            A short reason written as the spec would say it (``"causal: false"``, ``"bidirectional: true"``),
            or None when the component does not see later positions (or does not say).
        """
        return None


def examples_of(params: type[BaseModel]) -> list[dict[str, Any]]:
    """The example parameter sets a model declares (``json_schema_extra={"examples": [...]}``).

    The registry-driven tests build every registered component from each of its examples, so every
    component needs one.

    Args:
        params: a parameter model class.

    Returns:
        Its examples; ``[{}]`` when every parameter has a default; ``[]`` when a parameter is required
        and no example is declared.
    """
    extra = params.model_config.get("json_schema_extra")
    examples = list(extra.get("examples", [])) if isinstance(extra, dict) else []
    if examples:
        return examples
    required = [n for n, f in params.model_fields.items() if f.is_required()]
    return [] if required else [{}]


@functools.lru_cache(maxsize=64)
def _module_field_docs(filename: str, mtime_ns: int = 0, size: int = 0) -> dict[str, dict[str, str]]:
    """``qualname -> {field: docstring}`` for every class in a source file (parsed once per version of
    the file: the cache key includes its modification time and size)."""
    try:
        with open(filename, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}
    out: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                docs = {}
                for stmt, nxt in zip(node.body, node.body[1:]):
                    if (
                        isinstance(stmt, ast.AnnAssign)
                        and isinstance(stmt.target, ast.Name)
                        and isinstance(nxt, ast.Expr)
                        and isinstance(nxt.value, ast.Constant)
                        and isinstance(nxt.value.value, str)
                    ):
                        docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
                out[prefix + node.name] = docs
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body, f"{prefix}{node.name}.<locals>.")

    visit(tree.body, "")
    return out


def field_docs(cls: type[BaseModel]) -> dict[str, str]:
    """The attribute docstrings of a model's fields (the string literal under each field).

    Read from source on demand and cached per module.

    Args:
        cls: a pydantic model class; its base classes are included.

    Returns:
        ``{field: docstring}``.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            filename = inspect.getsourcefile(klass)
        except TypeError:
            continue
        if filename:
            try:
                st = os.stat(filename)
            except OSError:
                continue
            docs.update(_module_field_docs(filename, st.st_mtime_ns, st.st_size).get(klass.__qualname__, {}))
    return docs


MAX_REPLICAS = 16384
"""Sum of :meth:`Params.replicas` over a model's layers: 16,384 experts (DeepSeek-V3: 58 x 257 = 14,906)."""


def Ref(kind: Kind | str, *, attends: Attends = "self") -> Any:  # noqa: N802 - reads as a type in annotations
    """The annotation of a field that references a component of ``kind``.

    Args:
        kind: the component kind.
        attends: what the slot takes (``"memory"`` for a cross-attention or decoder-block slot).

    Returns:
        ``Annotated[Any, ComponentSlot(kind, attends)]``; bound to the registered components when a spec
        is validated.
    """
    return Annotated[Any, ComponentSlot(Kind(kind), attends)]


AttentionRef = Annotated[Any, ComponentSlot(Kind.ATTENTION)]
CrossAttentionRef = Annotated[Any, ComponentSlot(Kind.ATTENTION, "memory")]
ActivationRef = Annotated[Any, ComponentSlot(Kind.ACTIVATION)]
NormRef = Annotated[Any, ComponentSlot(Kind.NORM)]
FeedForwardRef = Annotated[Any, ComponentSlot(Kind.FEEDFORWARD)]
PositionalRef = Annotated[Any, ComponentSlot(Kind.POSITIONAL)]
EmbeddingRef = Annotated[Any, ComponentSlot(Kind.EMBEDDING)]
BlockRef = Annotated[Any, ComponentSlot(Kind.BLOCK)]
DecoderBlockRef = Annotated[Any, ComponentSlot(Kind.BLOCK, "memory")]
HeadRef = Annotated[Any, ComponentSlot(Kind.HEAD)]
ModelRef = Annotated[Any, ComponentSlot(Kind.MODEL)]

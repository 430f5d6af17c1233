"""Spec loading and validation. Torch-free: ``blockforge validate`` imports only this side."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from blockforge.registry.plugins import prime_pydantic_plugins

prime_pydantic_plugins()  # before the first model class: a malformed installed distribution is not fatal

from pydantic import BaseModel

from blockforge.errors import Location, SpecError, SpecIssue
from blockforge.registry.registry import Registries
from blockforge.spec.canonical import canonical, spec_hash
from blockforge.spec.loader import Document, load_file, load_text
from blockforge.spec.models import FORMAT_VERSION, SpecFile
from blockforge.spec.params import (
    ActivationRef,
    AttentionRef,
    BlockRef,
    ComponentSlot,
    CrossAttentionRef,
    DecoderBlockRef,
    EmbeddingRef,
    FeedForwardRef,
    HeadRef,
    ModelRef,
    NormRef,
    Params,
    PositionalRef,
    PositionUse,
    Ref,
)
from blockforge.spec.resolved import Provenance, ResolvedLayer, ResolvedPlan, ResolvedStack
from blockforge.spec.slots import Attends
from blockforge.spec.validate import validate_document

SpecSource = str | Path | dict[str, Any] | BaseModel | None
"""What :func:`load_spec` accepts: a path, a mapping, an already validated spec, or None (the default)."""

DEFAULT_SPEC = "seed.yaml"


def default_spec_path() -> Path:
    """The packaged default spec: the seed guide's Transformer (50,199,354 parameters).

    Returns:
        The path of the YAML file inside the installed package.
    """
    return Path(str(resources.files("blockforge") / "specs" / DEFAULT_SPEC))


def load_document(source: SpecSource, *, overrides: Sequence[str] = ()) -> Document:
    """Read a spec into a :class:`Document` with ``extends``, overrides and ``${path}`` references applied.

    Args:
        source: a YAML/JSON path, a mapping, or None for the packaged default spec.
        overrides: ``key.path=VALUE`` overrides (values typed as YAML), applied in order after ``extends``.

    Returns:
        The composed document: plain values plus the file:line:col of each (malformed overrides and
        unresolved references are in its ``issues``, reported with the validation errors).

    Raises:
        SpecError: unreadable or malformed input, a bad ``extends``, override or reference.
    """
    from blockforge.spec.compose import compose

    if source is None:
        path: Path | None = default_spec_path()
        doc = load_file(path)
    elif isinstance(source, dict):
        path, doc = None, Document(source, "<dict>", {(): Location("<dict>")})
    elif isinstance(source, (str, Path)):
        path, doc = Path(source), load_file(source)
    else:
        raise TypeError(f"cannot load a spec from {type(source).__name__}")
    return compose(doc, base_dir=path.parent if path is not None else Path.cwd(), overrides=overrides)


def load_spec(
    source: SpecSource = None, *, registries: Registries | None = None, overrides: Sequence[str] = ()
) -> BaseModel:
    """Load and validate a spec.

    Args:
        source: a YAML/JSON path, a mapping, a validated spec (returned as is), or None for the
            packaged default (the seed's Transformer).
        registries: the registries to resolve component names in; defaults to the built-ins plus
            installed plugins.
        overrides: ``key.path=VALUE`` overrides (values typed as YAML), applied in order after
            ``extends``, as with ``--set`` on the command line.

    Returns:
        The validated spec: an instance of :class:`SpecFile` bound to the registries. ``spec.plan`` is
        its :class:`ResolvedPlan` (every layer resolved once, with provenance; see
        :mod:`blockforge.spec.resolved` and docs/architecture.md).

    Raises:
        SpecError: every problem found, each with file:line:col and spec path.
    """
    if isinstance(source, BaseModel):
        if not overrides:
            return source
        source = canonical(source)
    if registries is None:
        from blockforge.registry.plugins import default_registries

        registries = default_registries()
    return validate_document(load_document(source, overrides=overrides), registries)


__all__ = [
    "FORMAT_VERSION",
    "ActivationRef",
    "Attends",
    "AttentionRef",
    "BlockRef",
    "ComponentSlot",
    "CrossAttentionRef",
    "DecoderBlockRef",
    "Document",
    "EmbeddingRef",
    "FeedForwardRef",
    "HeadRef",
    "ModelRef",
    "NormRef",
    "Params",
    "PositionalRef",
    "PositionUse",
    "Provenance",
    "Ref",
    "ResolvedLayer",
    "ResolvedPlan",
    "ResolvedStack",
    "SpecError",
    "SpecFile",
    "SpecIssue",
    "canonical",
    "default_spec_path",
    "load_document",
    "load_file",
    "load_spec",
    "load_text",
    "spec_hash",
    "validate_document",
]

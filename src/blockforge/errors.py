"""Exceptions and the located-issue records every user-facing error is made of.

Torch-free: imported by ``blockforge validate``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SpecPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    """Where a value came from.

    Attributes:
        source: a file path, ``--set`` for a command-line override, or ``<default>``/``<input>``.
        line: 1-based line, or None when unknown.
        col: 1-based column, or None when unknown.
        text: for ``--set`` overrides, the override as typed.
    """

    source: str
    line: int | None = None
    col: int | None = None
    text: str | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.source
        return f"{self.source}:{self.line}:{self.col}"


def format_path(path: SpecPath) -> str:
    """Render a spec path as a dotted string: ``model.block.attention.heads`` or ``layers[2].type``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec.

    Attributes:
        path: where in the spec tree, e.g. ``("model", "block", "attention", "heads")``.
        message: what is wrong.
        location: file/line/col of the offending value, when known.
        hint: what would be valid (e.g. "did you mean 'relu'?").
        code: a short machine-readable kind (``unknown_component``, ``extra_forbidden``, ...).
    """

    path: SpecPath
    message: str
    location: Location | None = None
    hint: str | None = None
    code: str = "invalid"

    def to_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "path": format_path(self.path),
            "message": self.message,
            "hint": self.hint,
            "code": self.code,
            "file": loc.source if loc else None,
            "line": loc.line if loc else None,
            "col": loc.col if loc else None,
        }

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{format_path(self.path)}: {self.message}{hint}"


class BlockforgeError(Exception):
    """Base class of every error blockforge raises on purpose."""


class SpecError(BlockforgeError, ValueError):
    """A spec is invalid. Carries every issue found, not just the first.

    Args:
        issues: the problems, in source order where known.
    """

    def __init__(self, issues: Sequence[SpecIssue]) -> None:
        self.issues: tuple[SpecIssue, ...] = tuple(issues)
        n = len(self.issues)
        head = f"{n} problem{'s' if n != 1 else ''} in spec"
        super().__init__(head + ":\n" + "\n".join(f"  {i}" for i in self.issues))


class RegistryError(BlockforgeError):
    """Base class of registry errors."""


class DuplicateComponentError(RegistryError, ValueError):
    """A component name is registered twice in one kind."""


class UnknownComponentError(RegistryError, KeyError):
    """A component name is not registered in its kind.

    Attributes:
        kind: the component kind looked in.
        name: the name asked for.
        suggestions: the nearest registered names.
    """

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        self.suggestions = suggest(name, self.known)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        msg = f"unknown {self.kind} component {self.name!r}"
        if self.suggestions:
            msg += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        elif self.known:
            msg += "; registered: " + ", ".join(self.known)
        else:
            msg += f"; no {self.kind} components are registered"
        return msg

    def __str__(self) -> str:
        return self.message


class PluginError(BlockforgeError):
    """A plugin failed and strict mode is on."""


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates close to ``name`` (case-insensitive), nearest first."""
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    out = [lowered[h] for h in hits]
    # prefix matches catch abbreviations difflib scores low ("rms" -> "rmsnorm")
    for c in cands:
        if len(out) >= n:
            break
        if c not in out and len(name) >= 2 and c.lower().startswith(name.lower()):
            out.append(c)
    return out

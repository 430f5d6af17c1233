"""Deep merge of plain spec values, remembering which side every merged value came from.

One merge serves ``extends:`` (a file over its base), per-layer overrides and patterns (a partial
block over the model's block) and command-line ``--set`` overrides. The rules:

- a mapping patch merges into a mapping key by key, recursively;
- a bare name in the base is ``{type: name}``: a mapping patch merges into that expanded form (so
  ``norm: {eps: 1.0e-6}`` over ``norm: rmsnorm`` keeps ``rmsnorm``), the same for a ``--set`` path through it;
- a mapping patch whose ``type`` differs from the base's ``type`` *replaces* it (another component
  has other parameters), and so does a bare string (``norm: rmsnorm`` is a whole new reference);
- ``{$patch: replace, ...}`` replaces the base mapping instead of merging into it;
- ``key: {$patch: delete}`` deletes ``key``;
- anything else (scalars, lists, null) replaces.

Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blockforge.errors import SpecIssue, SpecPath, format_path

PATCH = "$patch"
"""The directive key: ``$patch: replace`` or ``$patch: delete``."""
_DIRECTIVES = ("replace", "delete")


class _Deleted:
    pass


DELETED = _Deleted()


@dataclass
class Merged:
    """The result of merging patches over a base.

    Attributes:
        value: the merged plain value.
        roots: one dict per merge step (oldest first): result path -> (source tag, source path) of
            every subtree that step put in place. Paths in no root come from the original base.
    """

    value: Any
    roots: list[dict[SpecPath, tuple[Any, SpecPath]]] = field(default_factory=list)

    def origin(self, path: SpecPath) -> tuple[Any, SpecPath] | None:
        """Where a value of the merged result came from.

        Args:
            path: a path in the result.

        Returns:
            ``(source tag, path in that source)``, or None if the value comes from the base.
        """
        for step in reversed(self.roots):
            for cut in range(len(path), -1, -1):
                hit = step.get(path[:cut])
                if hit is not None:
                    return hit[0], (*hit[1], *path[cut:])
        return None


def strip(value: Any, at: SpecPath = (), issues: list[SpecIssue] | None = None) -> Any:
    """Remove merge directives from a patch that lands where there is nothing to merge into.

    Args:
        value: the patch.
        at: its path (for the recursion).
        issues: passed down unchanged; stripping records nothing.

    Returns:
        ``value`` without ``$patch`` keys and without the entries marked ``$patch: delete``.
    """
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == PATCH:
                continue
            if isinstance(v, dict) and v.get(PATCH) == "delete":
                continue
            out[k] = strip(v, (*at, k), issues)
        return out
    if isinstance(value, list):
        return [strip(v, (*at, i), issues) for i, v in enumerate(value)]
    return value


def directive_issues(value: Any, at: SpecPath = ()) -> list[tuple[SpecPath, str]]:
    """Every malformed ``$patch`` directive under a value.

    Args:
        value: a patch.
        at: its spec path, prefixed to the returned paths.

    Returns:
        ``(path, message)`` for each unknown directive or ``delete`` with other keys.
    """
    out: list[tuple[SpecPath, str]] = []
    if isinstance(value, dict):
        if PATCH in value and value[PATCH] not in _DIRECTIVES:
            out.append(((*at, PATCH), f"unknown merge directive {value[PATCH]!r}; use 'replace' or 'delete'"))
        if value.get(PATCH) == "delete" and len(value) > 1:
            out.append(((*at, PATCH), "'$patch: delete' takes no other keys"))
        for k, v in value.items():
            out.extend(directive_issues(v, (*at, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(directive_issues(v, (*at, i)))
    return out


def _expands(base: Any, patch: dict[str, Any]) -> bool:
    """Whether a mapping patch lands on a bare name it merges into (as ``{type: name}``)."""
    return isinstance(base, str) and patch.get(PATCH) != "replace" and patch.get("type", base) == base


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)


def _replaces(base: Any, patch: dict[str, Any]) -> bool:
    if not isinstance(base, dict) or patch.get(PATCH) == "replace":
        return True
    return "type" in patch and "type" in base and patch["type"] != base["type"]


def merge_into(merged: Merged, patch: Any, *, tag: Any, at: SpecPath = (), src: SpecPath = ()) -> Merged:
    """Merge ``patch`` over ``merged.value`` at result path ``at``; record provenance under ``tag``.

    Args:
        merged: the accumulated result (updated in place and returned).
        patch: plain values, possibly with ``$patch`` directives.
        tag: identifies the patch's source (a document, or a spec path prefix), for :meth:`Merged.origin`.
        at: where in the result the patch applies (``()``: the root).
        src: where the patch itself sits in its source.

    Returns:
        ``merged``.
    """
    roots: dict[SpecPath, tuple[Any, SpecPath]] = {}

    def go(base: Any, p: Any, path: SpecPath, s: SpecPath) -> Any:
        if isinstance(p, dict):
            if p.get(PATCH) == "delete":
                return DELETED
            if _expands(base, p):
                base = {"type": base}
            if _replaces(base, p):
                roots[path] = (tag, s)
                return strip(p)
            out = dict(base)
            for k, v in p.items():
                if k == PATCH:
                    continue
                if k in base:
                    new = go(base[k], v, (*path, k), (*s, k))
                else:
                    if isinstance(v, dict) and v.get(PATCH) == "delete":
                        continue
                    roots[(*path, k)] = (tag, (*s, k))
                    new = strip(v)
                if new is DELETED:
                    out.pop(k, None)
                else:
                    out[k] = new
            return out
        roots[path] = (tag, s)
        return p

    def at_path(value: Any, rest: SpecPath, done: SpecPath) -> Any:
        if not rest:
            return go(value, patch, done, src)
        head, *tail = rest
        if isinstance(head, int):
            if not isinstance(value, list):
                raise TypeError(f"{format_path(done) or 'the root'} is {_describe(value)}, not a list: "
                                f"it has no item [{head}]")
            if not -len(value) <= head < len(value):
                raise IndexError(f"index {head} is out of range for {format_path(done)} ({len(value)} items)")
            items = list(value)
            new = at_path(items[head], tuple(tail), (*done, head % len(items)))
            if new is DELETED:
                del items[head]
            else:
                items[head] = new
            return items
        if isinstance(value, str):
            value = {"type": value}  # a bare name: set a parameter of the component it names
        elif not isinstance(value, dict):
            value = {}
        out = dict(value)
        if head not in out:
            index = next((k for k, part in enumerate(tail) if isinstance(part, int)), None)
            if index is not None:
                missing = (*done, head, *tail[:index])
                raise KeyError(f"{format_path(missing)} does not exist, so it has no item [{tail[index]}]; "
                               f"set the whole list instead, e.g. {format_path(missing)}=[...]")
            roots[(*done, head)] = (tag, src)
            new = strip(_nest(tuple(tail), patch))
        else:
            new = at_path(out[head], tuple(tail), (*done, head))
        if new is DELETED:
            out.pop(head, None)
        else:
            out[head] = new
        return out

    result = at_path(merged.value, tuple(at), ())
    merged.value = None if result is DELETED else result
    merged.roots.append(roots)
    return merged


def _nest(path: SpecPath, value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value


def merge(base: Any, patch: Any, *, tag: Any = "patch") -> Merged:
    """Merge ``patch`` over ``base`` (see the module docstring for the rules).

    Args:
        base: the value merged into.
        patch: the value merged over it.
        tag: recorded as the source of every value the patch sets (see :meth:`Merged.origin`).

    Returns:
        The :class:`Merged` result.
    """
    return merge_into(Merged(base), patch, tag=tag)

"""Read YAML or JSON into plain Python values, remembering where every value came from.

YAML goes through PyYAML's safe composer only: no Python tags, no object construction. The node
graph is walked by hand so that alias bombs, deep nesting, duplicate keys and non-string keys are
refused with a located error and bounded memory. Torch-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from blockforge.errors import Location, SpecError, SpecIssue, SpecPath

MAX_BYTES = 1 << 20
"""Largest spec file read (1 MiB). Real specs are a few KiB."""
MAX_DEPTH = 64
"""Deepest nesting of mappings/sequences accepted."""
MAX_NODES = 100_000
"""Most values a document may expand to, aliases included (stops alias bombs)."""

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str")}


@dataclass
class Document:
    """A loaded spec document.

    Attributes:
        data: plain values (dict / list / str / int / float / bool / None).
        source: the file path or a label such as ``<input>``.
        values: location of each value, by spec path.
        keys: location of each mapping key, by the path of its value.
        lines: the source text split into lines (for carets under values).
        issues: problems found while composing (bad overrides, references) that validation reports
            together with its own.
    """

    data: Any
    source: str
    values: dict[SpecPath, Location] = field(default_factory=dict)
    keys: dict[SpecPath, Location] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    issues: list[SpecIssue] = field(default_factory=list)

    def locate(self, path: SpecPath, *, key: bool = False) -> Location | None:
        """Where a value (or its key) was written.

        Args:
            path: a spec path.
            key: the location of the mapping key rather than of the value.

        Returns:
            The location, falling back to the nearest enclosing value; None if the document has none.
        """
        table = self.keys if key else self.values
        if path in table:
            return table[path]
        p = tuple(path)
        while p:
            p = p[:-1]
            if p in self.values:
                return self.values[p]
        return self.values.get((), None)


def _loc(source: str, node_or_mark: Any) -> Location:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return Location(source, mark.line + 1, mark.column + 1)


def _issue(source: str, mark: Any, message: str, path: SpecPath = (), code: str = "syntax") -> SpecIssue:
    loc = _loc(source, mark) if mark is not None else Location(source)
    return SpecIssue(path=path, message=message, location=loc, code=code)


class _Walker:
    """Turns a composed YAML node graph into plain values with locations."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.values: dict[SpecPath, Location] = {}
        self.keys: dict[SpecPath, Location] = {}
        self.count = 0
        self._scalars = SafeConstructor()

    def walk(self, node: Node, path: SpecPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                [_issue(self.source, node, f"document expands to more than {MAX_NODES} values "
                        "(an alias bomb?)", path, code="too_large")]
            )
        if depth > MAX_DEPTH:
            raise SpecError(
                [_issue(self.source, node, f"nesting deeper than {MAX_DEPTH} levels", path, code="too_deep")]
            )
        self.values.setdefault(path, _loc(self.source, node))
        if isinstance(node, ScalarNode):
            if node.tag not in _SCALAR_TAGS:
                raise SpecError([_issue(self.source, node, f"YAML tag {node.tag!r} is not allowed; "
                                        "specs hold plain values only", path, code="tag")])
            return self._scalars.construct_object(node, deep=True)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                raise SpecError([_issue(self.source, node, f"YAML tag {node.tag!r} is not allowed", path, code="tag")])
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != _TAG + "map":
                raise SpecError([_issue(self.source, node, f"YAML tag {node.tag!r} is not allowed", path, code="tag")])
            return self._mapping(node, path, depth)
        raise SpecError([_issue(self.source, node, f"unsupported YAML node {type(node).__name__}", path)])

    def _mapping(self, node: MappingNode, path: SpecPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Node] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":  # YAML merge key `<<: *anchor`
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for src in sources:
                    value = self.walk(src, path, depth)
                    if not isinstance(value, dict):
                        raise SpecError([_issue(self.source, src, "'<<' must merge a mapping", path)])
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != _TAG + "str":
                shown = getattr(key_node, "value", "?")
                raise SpecError([_issue(self.source, key_node, f"mapping keys must be strings, got {shown!r}",
                                        path, code="key_type")])
            key = key_node.value
            if key in seen:
                first = _loc(self.source, seen[key])
                raise SpecError([_issue(self.source, key_node, f"duplicate key {key!r} (first defined at "
                                        f"line {first.line}, column {first.col})", (*path, key), code="duplicate_key")])
            seen[key] = key_node
            self.keys[(*path, key)] = _loc(self.source, key_node)
            out[key] = self.walk(value_node, (*path, key), depth + 1)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting from the event stream, before the recursive composer sees it."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError([_issue(source, event.start_mark, f"nesting deeper than {MAX_DEPTH} levels",
                                        code="too_deep")])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _expanded_size(node: Node) -> int:
    """How many values ``node`` expands to with aliases copied out, counted on the node graph (each
    distinct node once), so an alias bomb is measured without being expanded. Depth is bounded by
    :func:`_check_depth`."""
    sizes: dict[int, int] = {}

    def size(n: Node) -> int:
        key = id(n)
        if key not in sizes:
            sizes[key] = 1  # a (malformed) cycle counts once
            if isinstance(n, SequenceNode):
                total = 1 + sum(size(c) for c in n.value)
            elif isinstance(n, MappingNode):
                total = 1 + sum(size(v) for _, v in n.value)
            else:
                total = 1
            sizes[key] = min(total, MAX_NODES + 1)
        return sizes[key]

    return size(node)


def _compose_yaml(text: str, source: str) -> _Walker | tuple[Any, _Walker]:
    _check_depth(text, source)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None and _expanded_size(node) > MAX_NODES:
        raise SpecError([_issue(source, node, f"document expands to more than {MAX_NODES} values "
                                "(an alias bomb?)", (), code="too_large")])
    walker = _Walker(source)
    data = walker.walk(node, (), 0) if node is not None else None
    return data, walker


def load_text(text: str, *, source: str = "<input>", fmt: str = "yaml") -> Document:
    """Parse spec text.

    Args:
        text: the document.
        source: a label for locations (usually the file path).
        fmt: ``yaml`` or ``json``.

    Returns:
        The document with plain values and locations.

    Raises:
        SpecError: malformed text, a forbidden construct, or a limit exceeded; located.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise SpecError([SpecIssue((), f"spec is larger than {MAX_BYTES // 1024} KiB", Location(source),
                                   code="too_large")])
    lines = text.splitlines()
    if fmt == "json":
        try:
            data = _load_json(text, source)
        except SpecError as exc:
            if exc.issues[0].code == "duplicate_key":
                _compose_yaml(text, source)  # JSON is (nearly) YAML: this raises the same error, located
            raise
        try:
            _, walker = _compose_yaml(text, source)  # positions only; JSON is (nearly) YAML
            values, keys = walker.values, walker.keys
        except (yaml.YAMLError, SpecError, RecursionError):
            values, keys = {(): Location(source, 1, 1)}, {}
        return Document(data, source, values, keys, {source: lines})
    try:
        data, walker = _compose_yaml(text, source)
    except yaml.MarkedYAMLError as exc:
        from blockforge.spec.yaml_errors import syntax_issue

        raise SpecError([syntax_issue(exc, source, lines)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue((), f"YAML error: {exc}", Location(source), code="syntax")]) from None
    except RecursionError:
        raise SpecError([SpecIssue((), "nesting too deep", Location(source), code="too_deep")]) from None
    return Document(data, source, walker.values, walker.keys, {source: lines})


def _load_json(text: str, source: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise SpecError([SpecIssue((k,), f"duplicate key {k!r}", Location(source), code="duplicate_key")])
            out[k] = v
        return out

    def bad_constant(name: str) -> Any:
        raise SpecError([SpecIssue((), f"{name} is not a valid spec value", Location(source), code="syntax")])

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=bad_constant)
    except json.JSONDecodeError as exc:
        raise SpecError([SpecIssue((), f"JSON syntax error: {exc.msg}", Location(source, exc.lineno, exc.colno),
                                   code="syntax")]) from None
    except RecursionError:
        raise SpecError([SpecIssue((), "nesting too deep", Location(source), code="too_deep")]) from None
    return data


def load_file(path: str | Path) -> Document:
    """Read a spec file (``.yaml``/``.yml``/``.json``; anything else is read as YAML).

    Args:
        path: the file.

    Returns:
        The document: plain values plus the file:line:col of each.

    Raises:
        SpecError: unreadable, too large, or malformed; located.
    """
    p = Path(path)
    source = str(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise SpecError([SpecIssue((), f"spec is {size} bytes; the limit is {MAX_BYTES // 1024} KiB",
                                       Location(source), code="too_large")])
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([SpecIssue((), "file not found", Location(source), code="not_found")]) from None
    except IsADirectoryError:
        raise SpecError([SpecIssue((), "is a directory, not a spec file", Location(source), code="not_found")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([SpecIssue((), f"not UTF-8 text ({exc.reason} at byte {exc.start})", Location(source),
                                   code="syntax")]) from None
    except OSError as exc:
        raise SpecError([SpecIssue((), f"cannot read: {exc.strerror}", Location(source), code="not_found")]) from None
    fmt = "json" if p.suffix.lower() == ".json" else "yaml"
    return load_text(text, source=source, fmt=fmt)

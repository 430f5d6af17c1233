"""Read YAML or JSON into plain Python values, remembering where every value came from.

Scalars are read by the **YAML 1.2 core schema**, in spec files and in ``--set`` values alike:
``true``/``false``, ``null``/``~``/empty, integers (``12``, ``0o14``, ``0xC``), floats (``1e-5``, ``.5``,
``.inf``, ``.nan``); everything else is a string. The YAML 1.1 forms PyYAML reads by default are
therefore strings (``1:3`` is the slice ``"1:3"``, not 63; ``1_000``, ``0b11`` and ``2001-12-14`` are
text; ``010`` is ten), except the YAML 1.1 booleans ``yes``/``no``/``on``/``off``, which are refused
unquoted with a located error that says to write ``true``/``false`` (or to quote the text). YAML merge
keys (``<<: *anchor``) are kept.

YAML is read as a stream of events from PyYAML's safe parser (libyaml's when installed); values are
built from the events in one pass that counts values and nesting as it goes, so alias bombs, deep
nesting and documents of too many values are refused early with bounded memory and time. No tag that
constructs an object is accepted. Torch-free.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import ScalarNode
from yaml.resolver import BaseResolver

from blockforge.errors import Location, SpecError, SpecIssue, SpecPath

MAX_BYTES = 1 << 20
"""Largest spec file read (1 MiB). Real specs are a few KiB."""
MAX_DEPTH = 64
"""Deepest nesting of mappings/sequences accepted."""
MAX_NODES = 100_000
"""Most values a document may expand to, aliases included (stops alias bombs)."""
MAX_INT = (1 << 64) - 1
"""Largest integer magnitude a spec may write (64 bits: seeds, sizes and counts all fit)."""

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
SEQ, MAP, MERGE = _TAG + "seq", _TAG + "map", _TAG + "merge"
YAML11_BOOL = "tag:blockforge,2026:yaml11-bool"
"""The tag :class:`CoreResolver` gives a plain ``yes``/``no``/``on``/``off``: refused, with a hint."""

_INT_RE = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                       r"|\.(?:nan|NaN|NAN)")
_BOOL_RE = re.compile(r"true|True|TRUE|false|False|FALSE")
_NULL_RE = re.compile(r"~|null|Null|NULL|")
_YAML11_BOOL_RE = re.compile(r"yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF")


class CoreResolver(BaseResolver):
    """PyYAML's resolver with the YAML 1.2 core schema's implicit types instead of YAML 1.1's.

    See https://yaml.org/spec/1.2.2/#1023-core-schema. Two additions: the merge key ``<<`` and the
    YAML 1.1 booleans, which resolve to :data:`YAML11_BOOL` so that the loader can refuse them.
    """


for _tag, _re, _first in (
    (BOOL, _BOOL_RE, "tTfF"),
    (INT, _INT_RE, "-+0123456789"),
    (FLOAT, _FLOAT_RE, "-+.0123456789"),
    (NULL, _NULL_RE, ["~", "n", "N", ""]),
    (MERGE, re.compile(r"<<"), "<"),
    (YAML11_BOOL, _YAML11_BOOL_RE, "yYnNoO"),
):
    CoreResolver.add_implicit_resolver(_tag, re.compile(rf"^(?:{_re.pattern})$"), list(_first))

_RESOLVER = CoreResolver()
_PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed (10x faster)


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


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about hostile values."""
    text = value if isinstance(value, str) else type(value).__name__
    shown = repr(text[: limit + 1])
    return shown if len(text) <= limit else shown[:-1] + "..." + shown[-1]


def _loc(source: str, node_or_mark: Any) -> Location:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return Location(source, mark.line + 1, mark.column + 1)


def _issue(source: str, mark: Any, message: str, path: SpecPath = (), code: str = "syntax",
           hint: str | None = None) -> SpecIssue:
    loc = _loc(source, mark) if mark is not None else Location(source)
    return SpecIssue(path=path, message=message, location=loc, hint=hint, code=code)


def parse_int(text: str) -> int | None:
    """A YAML 1.2 core integer (``12``, ``-3``, ``0o14``, ``0xC``), or None past :data:`MAX_INT`.

    The digits are counted before converting, so a 5,000-digit literal costs nothing.
    """
    if len(text) < 20 and text.isdigit():  # the common case, fast
        return int(text)
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    base, digits = (8, body[2:]) if body[:2] == "0o" else (16, body[2:]) if body[:2] == "0x" else (10, body)
    digits = digits.lstrip("0") or "0"
    if len(digits) > {8: 22, 10: 20, 16: 16}[base]:
        return None
    value = int(digits, base)
    return sign * value if value <= MAX_INT else None


def _float(text: str) -> float:
    low = text.lower()
    if low.endswith(".inf"):
        return float("-inf") if low.startswith("-") else float("inf")
    if low == ".nan":
        return float("nan")
    return float(text)


@dataclass
class _Anchor:
    value: Any
    size: int  # values, itself included
    height: int  # nesting below it
    values: list[tuple[SpecPath, Location]]  # locations relative to the anchored value
    keys: list[tuple[SpecPath, Location]]


@dataclass
class _Frame:
    value: Any  # the dict or list being filled
    path: SpecPath
    mark: Any
    anchor: str | None
    count0: int  # values counted before this one
    log0: tuple[int, int]  # lengths of the location logs before this one
    height: int = 0
    key: str | None = None  # the key waiting for its value (mappings)
    key_mark: Any = None
    merging: bool = False  # the key waiting is ``<<``
    merge_log0: tuple[int, int] = (0, 0)  # lengths of the location logs before the merged value
    merges: list[tuple[dict[str, Any], list, list]] = field(default_factory=list)
    seen: dict[str, Any] = field(default_factory=dict)


class _Builder:
    """Plain values from a YAML event stream, with the location of every value and key.

    Counts values (aliases copied out count in full) and nesting as the events arrive, and stops at
    :data:`MAX_NODES` / :data:`MAX_DEPTH`: no node graph is built, no alias is expanded past the budget.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.count = 0
        self.value_log: list[tuple[SpecPath, Location]] = []
        self.key_log: list[tuple[SpecPath, Location]] = []
        self.anchors: dict[str, _Anchor] = {}

    def fail(self, mark: Any, message: str, path: SpecPath = (), code: str = "syntax",
             hint: str | None = None) -> SpecError:
        return SpecError([_issue(self.source, mark, message, path, code, hint)])

    def build(self, text: str) -> Any:
        parser = _PARSER(text)
        try:
            return self._run(parser)
        finally:
            parser.dispose()

    def _run(self, parser: Any) -> Any:
        stack: list[_Frame] = []
        root: Any = None
        documents = 0
        while True:
            event = parser.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return root
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.fail(event, "a spec holds one YAML document; found a second one ('---')")
                continue
            if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                if isinstance(frame.value, dict):
                    self._apply_merges(frame)
                self._finish(frame.anchor, frame.value, frame.count0, frame.log0, frame.height)
                value, height = frame.value, frame.height + 1
            else:
                parent = stack[-1] if stack else None
                if parent is not None and isinstance(parent.value, dict) and parent.key is None \
                        and not parent.merging:
                    self._key(parent, event)
                    continue
                path = self._child_path(parent)
                depth = len(stack)  # containers around this value
                if isinstance(event, yaml.AliasEvent):
                    value, height = self._alias(event, path, depth)
                elif isinstance(event, yaml.ScalarEvent):
                    self._count(event, path)
                    self.value_log.append((path, _loc(self.source, event)))
                    log0 = (len(self.value_log) - 1, len(self.key_log))
                    value, height = self._scalar(event, path), 0
                    self._finish(event.anchor, value, self.count - 1, log0, 0)
                else:
                    container: Any
                    if isinstance(event, yaml.MappingStartEvent):
                        container, allowed = {}, MAP
                    elif isinstance(event, yaml.SequenceStartEvent):
                        container, allowed = [], SEQ
                    else:  # pragma: no cover - the parser emits nothing else
                        raise self.fail(event, f"unsupported YAML event {type(event).__name__}", path)
                    if event.tag not in (None, "!", allowed):
                        raise self.fail(event, f"YAML tag {short(event.tag)} is not allowed; specs hold plain "
                                        "values only", path, "tag")
                    if depth + 1 > MAX_DEPTH:
                        raise self.fail(event, f"nesting deeper than {MAX_DEPTH} levels", path, "too_deep")
                    self._count(event, path)
                    log0 = (len(self.value_log), len(self.key_log))
                    self.value_log.append((path, _loc(self.source, event)))
                    stack.append(_Frame(container, path, event.start_mark, event.anchor, self.count - 1, log0))
                    continue
            if not stack:
                root = value
                continue
            self._add(stack[-1], value, height)

    # -- pieces --------------------------------------------------------------------------------------

    def _count(self, event: Any, path: SpecPath, n: int = 1) -> None:
        self.count += n
        if self.count > MAX_NODES:
            raise self.fail(event, f"document expands to more than {MAX_NODES} values", path, "too_large",
                            "a spec holds a model's settings; aliases count each time they are used")

    @staticmethod
    def _child_path(parent: _Frame | None) -> SpecPath:
        if parent is None:
            return ()
        if isinstance(parent.value, list):
            return (*parent.path, len(parent.value))
        return parent.path if parent.merging else (*parent.path, parent.key)  # type: ignore[arg-type]

    def _key(self, frame: _Frame, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(ScalarNode, event.value, event.implicit)
            if tag == MERGE:
                frame.merging = True
                frame.key_mark = event.start_mark
                frame.merge_log0 = (len(self.value_log), len(self.key_log))
                return
            if tag in (STR, YAML11_BOOL):  # a key is a name: `on:` is the text "on"
                key = event.value
                if key in frame.seen:
                    first = _loc(self.source, frame.seen[key])
                    raise self.fail(event, f"duplicate key {short(key)} (first defined at line {first.line}, "
                                    f"column {first.col})", (*frame.path, key), "duplicate_key")
                frame.seen[key] = event
                frame.key, frame.key_mark = key, event.start_mark
                self.key_log.append(((*frame.path, key), _loc(self.source, event)))
                return
        shown = short(event.value) if isinstance(event, yaml.ScalarEvent) else (
            "an alias" if isinstance(event, yaml.AliasEvent) else "a mapping or list")
        raise self.fail(event, f"mapping keys must be strings, got {shown}", frame.path, "key_type",
                        "quote the key to make it text")

    def _add(self, frame: _Frame, value: Any, height: int) -> None:
        frame.height = max(frame.height, height)
        if isinstance(frame.value, list):
            frame.value.append(value)
        elif frame.merging:
            frame.merging = False
            v0, k0 = frame.merge_log0
            values, keys = self.value_log[v0:], self.key_log[k0:]
            del self.value_log[v0:], self.key_log[k0:]
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise self.fail(frame.key_mark, "'<<' merges a mapping or a list of mappings", frame.path)
            for s in sources:
                frame.merges.append((s, values, keys))
        else:
            frame.value[frame.key] = value
            frame.key = None

    def _apply_merges(self, frame: _Frame) -> None:
        """YAML merge keys: the merged mappings' keys, where the mapping does not set them itself."""
        n = len(frame.path)
        for source, values, keys in frame.merges:
            for k, v in source.items():
                if k in frame.value:
                    continue
                frame.value[k] = v
                self.value_log.extend((p, loc) for p, loc in values if len(p) > n and p[n] == k)
                self.key_log.extend((p, loc) for p, loc in keys if len(p) > n and p[n] == k)

    def _finish(self, anchor: str | None, value: Any, count0: int, log0: tuple[int, int], height: int) -> None:
        if anchor is None:
            return
        base = len(self.value_log[log0[0]][0])
        self.anchors[anchor] = _Anchor(
            value, self.count - count0, height,
            [(p[base:], loc) for p, loc in self.value_log[log0[0]:]],
            [(p[base:], loc) for p, loc in self.key_log[log0[1]:]],
        )

    def _alias(self, event: Any, path: SpecPath, depth: int) -> tuple[Any, int]:
        import copy

        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            raise self.fail(event, f"alias *{short(event.anchor)} names no anchor defined before it", path)
        self._count(event, path, anchor.size)
        if depth + anchor.height > MAX_DEPTH:
            raise self.fail(event, f"nesting deeper than {MAX_DEPTH} levels", path, "too_deep")
        self.value_log.extend(((*path, *p), loc) for p, loc in anchor.values)
        self.key_log.extend(((*path, *p), loc) for p, loc in anchor.keys)
        return copy.deepcopy(anchor.value), anchor.height

    def _scalar(self, event: Any, path: SpecPath) -> Any:
        text, tag = event.value, event.tag
        if tag is None:
            tag = _RESOLVER.resolve(ScalarNode, text, event.implicit)
        elif tag == "!":  # the non-specific tag: text (YAML 1.2, 3.3.2)
            tag = STR
        if tag == STR or tag == MERGE:  # `<<` as a value is text
            return text
        if tag == YAML11_BOOL:
            word = "true" if text.lower() in ("yes", "on") else "false"
            raise self.fail(event, f"{text} is not a boolean in a spec (specs are read as YAML 1.2)", path,
                            "yaml11_bool", f"write `{word}`, or quote it ('{text}') for the text")
        if tag == NULL and _NULL_RE.fullmatch(text):
            return None
        if tag == BOOL and _BOOL_RE.fullmatch(text):
            return text.lower() == "true"
        if tag == INT and _INT_RE.fullmatch(text):
            value = parse_int(text)
            if value is None:
                raise self.fail(event, f"integer {short(text)} is too large ({len(text)} characters)", path,
                                "too_large", f"spec integers are at most 2**64-1 = {MAX_INT} in magnitude")
            return value
        if tag == FLOAT and (_FLOAT_RE.fullmatch(text) or _INT_RE.fullmatch(text)):
            if _INT_RE.fullmatch(text) and parse_int(text) is None:
                raise self.fail(event, f"number {short(text)} is too large ({len(text)} characters)", path,
                                "too_large")
            return float(parse_int(text)) if _INT_RE.fullmatch(text) else _float(text)
        if tag in (NULL, BOOL, INT, FLOAT):
            kind = tag[len(_TAG):]
            raise self.fail(event, f"{short(text)} is not a valid !!{kind}", path, "tag",
                            "remove the tag, or write a value of that type")
        raise self.fail(event, f"YAML tag {short(tag)} is not allowed; specs hold plain values only", path, "tag")

    def locations(self) -> tuple[dict[SpecPath, Location], dict[SpecPath, Location]]:
        values: dict[SpecPath, Location] = {}
        for p, loc in self.value_log:
            values.setdefault(p, loc)
        return values, dict(self.key_log)


def _yaml(text: str, source: str) -> tuple[Any, _Builder]:
    builder = _Builder(source)
    try:
        data = builder.build(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        if "nesting depth" in msg:  # libyaml's own limit (1000), met while scanning ahead
            raise SpecError([_issue(source, mark, f"nesting deeper than {MAX_DEPTH} levels", (), "too_deep")]) from None
        from blockforge.spec.yaml_errors import syntax_issue

        raise SpecError([syntax_issue(exc, source, text.splitlines())]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue((), f"YAML error: {exc}", Location(source), code="syntax")]) from None
    except UnicodeError as exc:
        raise SpecError([SpecIssue((), f"not valid text ({exc.reason})", Location(source), code="syntax")]) from None
    return data, builder


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
    if len(text) > MAX_BYTES or len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise SpecError([SpecIssue((), f"spec is larger than {MAX_BYTES // 1024} KiB", Location(source),
                                   code="too_large")])
    lines = text.splitlines()
    if fmt == "json":
        data = _load_json(text, source)
        try:
            _, builder = _yaml(text, source)  # positions only: JSON is (nearly) YAML 1.2
            values, keys = builder.locations()
        except SpecError:
            values, keys = {(): Location(source, 1, 1)}, {}
        return Document(data, source, values, keys, {source: lines})
    data, builder = _yaml(text, source)
    values, keys = builder.locations()
    return Document(data, source, values, keys, {source: lines})


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _offset_location(source: str, text: str, offset: int) -> Location:
    line = text.count("\n", 0, offset)
    return Location(source, line + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1)


def _load_json(text: str, source: str) -> Any:
    """JSON values by the json module, with the loader's limits applied before and while parsing."""
    depth = 0
    for m in _JSON_TOKEN.finditer(text):  # nesting, counted on the text before the (recursive) parser runs
        c = m.group(0)
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError([SpecIssue((), f"nesting deeper than {MAX_DEPTH} levels",
                                           _offset_location(source, text, m.start()), code="too_deep")])
        elif c in "]}":
            depth -= 1

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                try:
                    _yaml(text, source)  # JSON is (nearly) YAML: this raises the same error, located
                except SpecError as exc:
                    if exc.issues[0].code == "duplicate_key":
                        raise
                raise SpecError([SpecIssue((k,), f"duplicate key {short(k)}", Location(source), code="duplicate_key")])
            out[k] = v
        return out

    def bad_constant(name: str) -> Any:
        raise SpecError([SpecIssue((), f"{name} is not a valid spec value", Location(source), code="syntax")])

    def integer(digits: str) -> int:
        value = int(digits) if len(digits) < 20 else parse_int(digits)
        if value is None:
            raise SpecError([SpecIssue((), f"integer {short(digits)} is too large ({len(digits)} characters)",
                                       _offset_location(source, text, max(text.find(digits[:64]), 0)),
                                       f"spec integers are at most 2**64-1 = {MAX_INT} in magnitude", "too_large")])
        return value

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=bad_constant, parse_int=integer)
    except json.JSONDecodeError as exc:
        raise SpecError([SpecIssue((), f"JSON syntax error: {exc.msg}", Location(source, exc.lineno, exc.colno),
                                   code="syntax")]) from None
    except RecursionError:
        raise SpecError([SpecIssue((), "nesting too deep", Location(source), code="too_deep")]) from None
    if count_values(data, MAX_NODES) > MAX_NODES:
        raise SpecError([SpecIssue((), f"document has more than {MAX_NODES} values", Location(source, 1, 1),
                                   code="too_large")])
    return data


def count_values(value: Any, limit: int) -> int:
    """Values in ``value`` (shared subtrees counted each time they appear), stopping past ``limit``."""
    n = 0
    stack = [value]
    while stack and n <= limit:
        v = stack.pop()
        n += 1
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return n


def value_depth(value: Any, limit: int) -> int:
    """Nesting of ``value`` (a scalar is 0), stopping past ``limit``; iterative, so any depth is safe."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d + 1 > limit:
                return d + 1
            deepest = max(deepest, d + 1)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


_FILE_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"),
               (stat.S_ISSOCK, "a socket"))


def load_file(path: str | Path) -> Document:
    """Read a spec file (``.yaml``/``.yml``/``.json``; anything else is read as YAML).

    Only a regular file is read, and never more than :data:`MAX_BYTES` plus one byte: a device
    (``/dev/zero``), a pipe or a terminal is refused without reading, so loading never blocks.

    Args:
        path: the file.

    Returns:
        The document: plain values plus the file:line:col of each.

    Raises:
        SpecError: missing (``not_found``), a directory (``is_directory``), not a regular file
            (``not_regular``), too large, unreadable, or malformed; located.
    """
    p = Path(path)
    source = str(path)

    def refuse(message: str, code: str) -> SpecError:
        return SpecError([SpecIssue((), message, Location(source), code=code)])

    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once (then it is refused below)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise refuse("file not found", "not_found") from None
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror or exc}", "unreadable") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise refuse("is a directory, not a spec file", "is_directory")
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
            raise refuse(f"is {kind}, not a regular file; a spec is read from a file", "not_regular")
        if st.st_size > MAX_BYTES:
            raise refuse(f"spec is {st.st_size} bytes; the limit is {MAX_BYTES // 1024} KiB", "too_large")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES:  # st_size can lie (procfs, a file growing): never read past the limit
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_BYTES:
            raise refuse(f"spec is larger than the limit of {MAX_BYTES // 1024} KiB", "too_large")
        raw = b"".join(chunks)
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror or exc}", "unreadable") from None
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text ({exc.reason} at byte {exc.start})", "syntax") from None
    text = text.removeprefix("\ufeff")
    fmt = "json" if p.suffix.lower() == ".json" else "yaml"
    return load_text(text, source=source, fmt=fmt)


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_INT", "MAX_NODES", "CoreResolver", "Document", "count_values",
           "load_file", "load_text", "parse_int", "short", "value_depth"]

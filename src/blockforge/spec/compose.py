"""Composition: ``extends:`` chains, ``--set`` overrides and ``${path}`` references, with locations.

Each step produces a new :class:`~blockforge.spec.loader.Document` whose every value keeps the
location where it was written: in the file that holds it (through ``extends``), or the ``--set``
override that put it there. Nothing here evaluates code. Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from blockforge.errors import Location, SpecError, SpecIssue, SpecPath, format_path, suggest
from blockforge.spec.loader import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    Document,
    count_values,
    load_file,
    load_text,
    value_depth,
)
from blockforge.spec.merge import Merged, directive_issues, merge_into, strip
from blockforge.spec.models import format_version_issue

EXTENDS = "extends"
MAX_CHAIN = 32
"""Longest ``extends`` chain followed."""
SET_SOURCE = "--set"
MAX_OVERRIDES = 1000
"""Most ``--set`` overrides applied at once (their total text is bounded like a spec file's)."""


def _relocate(result: Any, merged: Merged, base: Document, docs: dict[int, Document]) -> Document:
    """A document for ``merged.value`` whose locations come from the document each value came from."""
    values: dict[SpecPath, Location] = {}
    keys: dict[SpecPath, Location] = {}

    def visit(value: Any, path: SpecPath) -> None:
        origin = merged.origin(path)
        if origin is None:
            src, sp = base, path
        else:
            src, sp = docs[origin[0]], origin[1]
        loc = src.values.get(sp) or (src.locate(sp) if origin is not None else None)
        if loc is not None:
            values[path] = loc
        if path and sp in src.keys:
            keys[path] = src.keys[sp]
        elif path and origin is not None and loc is not None:
            keys[path] = loc  # a key a patch added: located where the patch is
        if isinstance(value, dict):
            for k, v in value.items():
                visit(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, (*path, i))

    visit(result, ())
    lines: dict[str, list[str]] = {}
    for d in (base, *docs.values()):
        lines.update(d.lines)
    return Document(result, base.source, values, keys, lines)


def _check_directives(doc: Document) -> None:
    bad = directive_issues(doc.data)
    if bad:
        raise SpecError([SpecIssue(p, m, doc.locate(p), None, "merge") for p, m in bad])


def _check_version(doc: Document) -> None:
    issue = format_version_issue(doc.data, doc.locate)
    if issue is not None:
        raise SpecError([issue])


def extend(doc: Document, base_dir: Path | None, chain: Sequence[str] = ()) -> Document:
    """Apply ``doc``'s ``extends:`` (a path or a list of paths), recursively.

    Later bases override earlier ones; the document itself overrides all of its bases.

    Args:
        doc: the document.
        base_dir: where relative base paths are resolved (the document's folder), or None for the
            current directory.
        chain: the files already being extended (to report a cycle with its path).

    Returns:
        The merged document, with each value's location in the file that wrote it.

    Raises:
        SpecError: a missing base, a cycle (with its path), a chain too long, a bad merge directive.
    """
    _check_directives(doc)
    data = doc.data
    if not isinstance(data, dict) or EXTENDS not in data:
        return doc
    _check_version(doc)
    raw = data[EXTENDS]
    targets = [raw] if isinstance(raw, str) else raw
    where = (EXTENDS,)
    if (not isinstance(targets, list) or not targets or len(targets) > MAX_CHAIN
            or not all(isinstance(t, str) and t for t in targets)):
        raise SpecError([SpecIssue(where, f"'extends' takes a file path or a list of at most {MAX_CHAIN} file paths",
                                   doc.locate(where), "e.g. `extends: base.yaml`", "extends")])
    here = str(Path(doc.source).resolve()) if base_dir is not None else doc.source
    chain = (*chain, here)
    if len(chain) > MAX_CHAIN:
        raise SpecError([SpecIssue(where, f"'extends' chain longer than {MAX_CHAIN} files", doc.locate(where),
                                   None, "extends")])
    docs: dict[int, Document] = {}
    merged: Merged | None = None
    base_doc: Document | None = None
    for i, target in enumerate(targets):
        at = where if isinstance(raw, str) else (*where, i)
        p = (base_dir or Path.cwd()) / target
        key = str(p.resolve())
        if key in chain:
            cycle = " -> ".join([*(Path(c).name for c in chain[chain.index(key):]), Path(key).name])
            raise SpecError([SpecIssue(at, f"'extends' cycle: {cycle}", doc.locate(at),
                                       "a spec cannot extend itself, directly or through its bases", "extends_cycle")])
        try:
            loaded = load_file(p)
        except SpecError as exc:
            first = exc.issues[0] if exc.issues else None
            if first is not None and first.code == "not_found":
                raise SpecError([SpecIssue(at, f"'extends' target not found: {p}", doc.locate(at), None,
                                           "extends")]) from None
            if first is not None and first.code in ("is_directory", "not_regular", "unreadable"):
                raise SpecError([SpecIssue(at, f"'extends' target {p}: {first.message}", doc.locate(at),
                                           "'extends' names a spec file", "extends")]) from None
            raise
        _check_version(loaded)
        sub = extend(loaded, p.parent, chain)
        if merged is None:
            merged, base_doc = Merged(sub.data), sub
        else:
            docs[id(sub)] = sub
            merge_into(merged, sub.data, tag=id(sub))
    assert merged is not None and base_doc is not None
    own = {k: v for k, v in data.items() if k != EXTENDS}
    docs[id(doc)] = doc
    merge_into(merged, own, tag=id(doc))
    if not isinstance(merged.value, dict):
        merged.value = strip(own)
    return _relocate(merged.value, merged, base_doc, docs)


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


def parse_set_path(text: str) -> SpecPath:
    """Parse the path of a ``--set`` override.

    Args:
        text: ``model.block.attention.heads`` or ``model.plan.overrides[0].at``.

    Returns:
        The spec path, e.g. ``("model", "plan", "overrides", 0, "at")``.

    Raises:
        ValueError: an empty or malformed path.
    """
    path: list[str | int] = []
    pos = 0
    while pos < len(text):
        if len(path) >= MAX_DEPTH:
            raise ValueError(f"key path longer than {MAX_DEPTH} segments")
        if text[pos] == "." and path:
            pos += 1
        m = _SEGMENT.match(text, pos)
        if m is None:
            raise ValueError(f"malformed key path {text!r}")
        if m.group(2) is not None and len(m.group(2).lstrip("-")) > 9:
            raise ValueError(f"list index {m.group(2)[:12]}... is too large")
        path.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not path:
        raise ValueError("empty key path")
    return tuple(path)


def apply_overrides(doc: Document, overrides: Iterable[str]) -> Document:
    """Apply ``key.path=VALUE`` overrides (values typed as YAML) in order.

    Each value set keeps the override as its location, so an error in it names the ``--set``.

    Args:
        doc: the document (after ``extends``).
        overrides: the ``key.path=VALUE`` strings.

    Returns:
        The document with the overrides applied; malformed overrides are skipped and recorded in its
        ``issues`` (reported with the validation errors).

    Raises:
        SpecError: more than :data:`MAX_OVERRIDES` overrides, or more than
            :data:`~blockforge.spec.loader.MAX_BYTES` of them in all (``too_large``).
    """
    overrides = list(overrides)
    if not overrides:
        return doc
    total = sum(len(o) for o in overrides)
    if len(overrides) > MAX_OVERRIDES or total > MAX_BYTES:
        raise SpecError([SpecIssue((), f"{len(overrides)} overrides of {total} characters in all; the limits are "
                                   f"{MAX_OVERRIDES} overrides and {MAX_BYTES // 1024} KiB",
                                   Location(SET_SOURCE), "write the values into a spec file", "too_large")])
    issues: list[SpecIssue] = []
    merged = Merged(doc.data)
    docs: dict[int, Document] = {}
    for text in overrides:
        loc = Location(SET_SOURCE, text=text)
        key, eq, value = text.partition("=")
        try:
            if not eq:
                raise ValueError("expected KEY.PATH=VALUE")
            path = parse_set_path(key.strip())
        except ValueError as exc:
            issues.append(SpecIssue((), f"bad override: {exc}", loc, "e.g. --set model.n_layers=12", "set"))
            continue
        try:
            vdoc = load_text(value, source=SET_SOURCE)
        except SpecError as exc:
            issues.extend(SpecIssue(path, i.message, loc, i.hint, i.code) for i in exc.issues)
            continue
        if len(path) + value_depth(vdoc.data, MAX_DEPTH) > MAX_DEPTH:
            issues.append(SpecIssue(path, f"the value would nest the spec deeper than {MAX_DEPTH} levels", loc,
                                    None, "too_deep"))
            continue
        vdoc = Document(vdoc.data, SET_SOURCE, {(): loc}, {}, {})
        docs[id(vdoc)] = vdoc
        try:
            merge_into(merged, vdoc.data, tag=id(vdoc), at=path)
        except (TypeError, IndexError, KeyError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            issues.append(SpecIssue(path, f"cannot set {format_path(path)}: {message}", loc, None, "set"))
    out = _relocate(merged.value, merged, doc, docs)
    out.source = doc.source
    out.issues = [*doc.issues, *issues]
    return out


_REF = re.compile(r"\$\{([^${}]*)\}")
MAX_REF_DEPTH = 32
"""Longest chain of references followed (``a`` names ``b`` names ``c`` ...)."""
MAX_REF_WORK = 2 * MAX_NODES
"""Most values visited while resolving references (whole-value references copy what they name)."""


_OPERATOR = re.compile(r"[*/%]|\s[-+]\s")  # a hyphen without spaces is text: '${a}-${b}' names, not subtracts
_ARITHMETIC = re.compile(r"^[\s\d.()+\-*/%]*$")


def _expression_issue(value: str, at: SpecPath, doc: Document, lookup: Any) -> SpecIssue | None:
    """An issue for a reference used in arithmetic (``'4 * ${model.d_model}'``, ``${a * 2}``), or None.

    References name values; nothing is evaluated. The hint gives the number to write instead when the
    referenced values are numbers (the sum is done here, for the hint only).
    """
    refs = list(_REF.finditer(value))
    inside = any(_OPERATOR.search(m.group(1)) and not re.fullmatch(r"[\w.\[\]-]+", m.group(1).strip())
                 for m in refs)
    outside = _REF.sub("0", value)
    around = bool(refs) and _ARITHMETIC.fullmatch(outside) is not None and _OPERATOR.search(outside) is not None
    if not (inside or around):
        return None
    hint = "write the value itself, or name a value that holds it"
    if around:
        import ast
        import operator

        ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
               ast.USub: operator.neg, ast.UAdd: operator.pos}

        def num(node: ast.AST) -> float:
            if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
                return node.value
            if isinstance(node, ast.BinOp) and type(node.op) in ops:
                return ops[type(node.op)](num(node.left), num(node.right))
            if isinstance(node, ast.UnaryOp) and type(node.op) in ops:
                return ops[type(node.op)](num(node.operand))
            raise ValueError("not arithmetic")

        try:
            values = [lookup(_ref_path(m.group(1))) for m in refs]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                it = iter(values)
                result = num(ast.parse(_REF.sub(lambda m: repr(next(it)), value).strip(), mode="eval").body)
                if isinstance(result, float) and result.is_integer() and "/" not in value:
                    result = int(result)
                hint = f"write the value itself: {result!r} (what {value.strip()!r} comes to now)"
        except Exception:  # noqa: BLE001 - only the hint depends on it
            pass
    return SpecIssue(at, f"{value!r} is an expression; references are not evaluated (a reference names one "
                     "value, as in '${model.d_model}')", doc.locate(at), hint, "reference")


def resolve_references(doc: Document) -> Document:
    """Replace ``${dotted.path}`` references by the value they name (``$${`` writes a literal ``${``).

    A string that is exactly one reference takes the referenced value with its type (``${model.d_model}``
    is an int); a reference inside longer text is replaced by the value's text. Nothing is evaluated:
    a reference names a value, it is not an expression.

    The work is bounded while it is done, not measured afterwards: text built from references may total
    at most :data:`~blockforge.spec.loader.MAX_BYTES` characters, at most :data:`MAX_REF_WORK` values are
    visited, and the result holds at most :data:`~blockforge.spec.loader.MAX_NODES` values nested at
    most :data:`~blockforge.spec.loader.MAX_DEPTH` deep. So a reference bomb (strings of ten
    ``${previous}`` each, nested) is refused in milliseconds.

    Args:
        doc: the document (after ``extends`` and overrides).

    Returns:
        The document with references resolved. An unknown path (with the nearest keys), a cycle, or a
        mapping referenced inside text is recorded in its ``issues`` and the reference left as written.

    Raises:
        SpecError: references that expand the spec past a limit (``too_large``, ``too_deep``), located
            at the value being resolved.
    """
    if not _has_ref(doc.data):
        return doc
    issues: list[SpecIssue] = []
    root = doc.data
    done: dict[SpecPath, Any] = {}
    budget = {"text": MAX_BYTES, "work": MAX_REF_WORK}
    where: list[SpecPath] = [()]  # the value being resolved, for a budget error's location

    def too_large(what: str) -> SpecError:
        at = where[0]
        return SpecError([SpecIssue(at, f"references expand the spec past {what}", doc.locate(at),
                                    "a reference copies the value it names; do not nest them to multiply a "
                                    "spec", "too_large")])

    def lookup(target: SpecPath, stack: tuple[SpecPath, ...], level: int) -> Any:
        node: Any = root
        walked: SpecPath = ()
        for part in target:
            if isinstance(node, str) and part == "type":
                node = {"type": node}  # a bare name is {type: name}
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
                node = node[part]
            elif isinstance(node, str) and walked:
                raise _RefError(f"reference to {format_path(target)!r}: {format_path(walked)} is the bare name "
                                f"{node!r}, whose parameters are its defaults",
                                f"write it out, e.g. {{type: {node}, {part}: ...}}, to refer to {part!r}")
            else:
                near = suggest(str(part), [str(k) for k in node]) if isinstance(node, dict) else []
                hint = ("did you mean " + " or ".join(repr(format_path((*walked, n))) for n in near) + "?") if near \
                    else None
                raise _RefError(f"reference to {format_path(target)!r}: no such value", hint)
            walked = (*walked, part)
        return resolve(node, target, stack, level + 1)

    def resolve(value: Any, at: SpecPath, stack: tuple[SpecPath, ...], level: int) -> Any:
        budget["work"] -= 1
        if budget["work"] < 0:
            raise too_large(f"{MAX_REF_WORK} values visited")
        if level > 2 * MAX_DEPTH:
            raise _RefError(f"references nest the spec deeper than {MAX_DEPTH} levels", None)
        if isinstance(value, dict):
            return {k: resolve(v, (*at, k), stack, level + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, (*at, i), stack, level + 1) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        if at in done:
            return done[at]
        if at in stack:
            cycle = " -> ".join(format_path(p) for p in (*stack[stack.index(at):], at))
            raise _RefError(f"reference cycle: {cycle}", None)
        if len(stack) > MAX_REF_DEPTH:
            raise _RefError(f"references nested deeper than {MAX_REF_DEPTH}", None)
        inner = (*stack, at)
        whole = _REF.fullmatch(value)
        if whole is not None and not value.startswith("$$"):
            result = lookup(_ref_path(whole.group(1)), inner, level)
        else:
            def text_of(m: re.Match[str]) -> str:
                if m.start() > 0 and value[m.start() - 1] == "$":
                    return m.group(0)
                got = lookup(_ref_path(m.group(1)), inner, level)
                if isinstance(got, (dict, list)):
                    raise _RefError(f"{m.group(0)} names a {type(got).__name__}; only a whole value can", None)
                piece = "null" if got is None else str(got).lower() if isinstance(got, bool) else str(got)
                budget["text"] -= len(piece)  # counted piece by piece, before the string is joined
                if budget["text"] < 0:
                    raise too_large(f"{MAX_BYTES // 1024} KiB of text")
                return piece

            result = _REF.sub(text_of, value).replace("$${", "${")
        done[at] = result
        return result

    def walk(value: Any, at: SpecPath) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*at, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*at, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            expression = _expression_issue(value, at, doc, lambda target: lookup(target, (at,), 0))
            if expression is not None:
                issues.append(expression)
                return value
            where[0] = at
            try:
                return resolve(value, at, (), len(at))
            except SpecError:
                raise
            except _RefError as exc:
                issues.append(SpecIssue(at, exc.message, doc.locate(at), exc.hint, "reference"))
            except ValueError as exc:
                issues.append(SpecIssue(at, str(exc), doc.locate(at), "write ${dotted.path}, e.g. ${model.d_model}",
                                        "reference"))
            return value
        return value

    data = walk(root, ())
    if count_values(data, MAX_NODES) > MAX_NODES:
        where[0] = ()
        raise too_large(f"{MAX_NODES} values")
    if value_depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise SpecError([SpecIssue((), f"references nest the spec deeper than {MAX_DEPTH} levels", doc.locate(()),
                                   None, "too_deep")])
    return Document(data, doc.source, doc.values, doc.keys, doc.lines, [*doc.issues, *issues])


class _RefError(Exception):
    def __init__(self, message: str, hint: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _ref_path(text: str) -> SpecPath:
    return parse_set_path(text.strip())


def _has_ref(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    return False


def compose(doc: Document, *, base_dir: Path | None, overrides: Iterable[str] = ()) -> Document:
    """``extends``, then ``--set`` overrides, then references: the document validation sees.

    Args:
        doc: the document as loaded.
        base_dir: where relative ``extends`` paths are resolved, or None.
        overrides: ``key.path=VALUE`` strings.

    Returns:
        The composed document.

    Raises:
        SpecError: see :func:`extend` and :func:`resolve_references`.
    """
    doc = extend(doc, base_dir)
    doc = apply_overrides(doc, overrides)
    return resolve_references(doc)


__all__ = ["apply_overrides", "compose", "extend", "parse_set_path", "resolve_references"]

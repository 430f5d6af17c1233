"""PyYAML's syntax errors in words a spec author can act on, located at the offending character.

:func:`syntax_issue` turns a :class:`yaml.MarkedYAMLError` into one :class:`SpecIssue`: what is wrong
("a tab in the indentation", "this line is indented differently"), where (the mark PyYAML reports,
moved to the tab or the ``$`` when that is the culprit), and a hint; anything it does not recognise
keeps PyYAML's own wording. Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from blockforge.errors import Location, SpecIssue

_REFERENCE = re.compile(r"(?<![$'\"])\$\{")


def _unquoted_reference(line: str) -> int | None:
    """0-based column of an unquoted ``${`` inside a flow mapping or sequence on ``line``, or None."""
    depth, quote = 0, None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return None
        elif c in "{[":
            if c == "{" and i and line[i - 1] == "$":
                return i - 1 if depth else None
            depth += 1
        elif c in "}]":
            depth -= 1
    return None


def syntax_issue(exc: yaml.MarkedYAMLError, source: str, lines: Sequence[str]) -> SpecIssue:
    """One located, explained issue for a YAML syntax error.

    Args:
        exc: the error PyYAML raised.
        source: the file (or label) the text came from.
        lines: the text's lines, to look at what is really there (tabs, unquoted ``${``).

    Returns:
        A :class:`SpecIssue` with code ``"syntax"`` and an empty spec path (no value could be read).
    """
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    problem, context = exc.problem or "", exc.context or ""
    raw = " ".join(p for p in (context, problem) if p) or "malformed YAML"
    message, hint = f"YAML syntax error: {raw}", None
    text = lines[line] if 0 <= line < len(lines) else ""

    for n in range(max(line - 1, 0), min(line + 1, len(lines) - 1) + 1):  # an unquoted ${...} in { } or [ ]
        at = _unquoted_reference(lines[n])
        if at is not None and ("flow" in context or "mapping values" in problem):  # both parsers' wording
            line, col = n, at
            message = "a ${...} reference inside { } or [ ] must be quoted"
            hint = "write it as a quoted string, e.g. {hidden: '${model.d_model}'} (see README 'References')"
            break
    else:
        if "'\\t'" in problem or "\t" in text[: col + 1]:  # PyYAML names the tab; libyaml does not
            tab = text.find("\t")
            col = tab if tab >= 0 else col
            message = "a tab character: YAML indents with spaces only"
            hint = "replace the tab with spaces (this file's other lines use spaces)"
        elif "expected <block end>" in problem or ("did not find expected key" in problem
                                                     and "block mapping" in context):  # PyYAML / libyaml
            message = "this line is indented differently from the lines before it"
            hint = ("lines of the same mapping must start in the same column; indent a nested mapping under "
                    "its key, and do not mix `- item` lists with `key: value` at one level")
        elif "mapping values are not allowed" in problem:
            message = "unexpected ':' (a key inside a value, or a line indented under a value)"
            hint = ("quote a value that contains ': ' (name: 'a: b'); a line indented more than the key above "
                    "it continues that key's value: align it with its siblings, or give the key above "
                    "nothing after the ':'")
        elif "could not find expected ':'" in problem:
            message = "a key without ':' (or a line that continues a value)"
            hint = "write `key: value`, with a space after the colon"
        elif "end of stream" in problem and "quoted scalar" in context:
            start = exc.context_mark
            line, col = (start.line, start.column) if start is not None else (line, col)
            message = "a quoted string is never closed"
            hint = "close the quote on the same line, or use a block scalar (|) for multi-line text"
        elif "flow" in context and ("expected ',' or" in problem or "expected ','" in problem):
            start = exc.context_mark
            opened = f" (opened at line {start.line + 1}, column {start.column + 1})" if start else ""
            message = f"an unclosed {{ or [, or a missing ','{opened}"
            hint = "separate the entries with ',' and close the { or [ on the line it ends"
    if message != f"YAML syntax error: {raw}":
        hint = f"{hint} (YAML said: {raw})" if hint else f"YAML said: {raw}"
    return SpecIssue(path=(), message=message, location=Location(source, line + 1, col + 1), hint=hint,
                     code="syntax")


__all__ = ["syntax_issue"]

"""Render spec problems like a compiler: location, source line, caret, path, hint. Torch-free."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from rich.console import Console
from rich.text import Text

from blockforge.errors import SpecIssue, format_path

_TOKEN_END = re.compile(r"\s*(#.*)?$|[,}\]]|:(\s|$)")


def _lines(source: str) -> tuple[str, ...]:
    """The lines of a spec file, for the excerpt under an error (empty if it cannot be read).

    Cached by path, modification time and size, so a long-lived process (an editor's language server, a
    notebook) shows the file as it is now, not as it was when an earlier error was rendered.
    """
    try:
        st = os.stat(source)
    except (OSError, ValueError):
        return ()
    return _read_lines(source, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=32)
def _read_lines(source: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    try:
        return tuple(Path(source).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _token_width(line: str, col: int) -> int:
    """Width of the value starting at 1-based ``col``: a quoted string, or up to , } ] # or EOL."""
    rest = line[col - 1 :]
    if not rest:
        return 1
    if rest[0] in "\"'":
        end = rest.find(rest[0], 1)
        return end + 1 if end > 0 else len(rest)
    m = _TOKEN_END.search(rest)
    width = m.start() if m else len(rest)
    return max(1, len(rest[:width].rstrip()))


def issue_text(issue: SpecIssue) -> Text:
    """One issue as rich text: header, location, source excerpt with caret, path and hint."""
    out = Text()
    out.append("error", style="bold red")
    out.append(f": {issue.message}\n", style="bold")
    loc = issue.location
    if loc is not None:
        out.append("  --> ", style="blue")
        out.append(f"{loc}\n" if loc.text is None else f"{loc} ({loc.text})\n")
        lines = _lines(loc.source) if loc.line is not None else ()
        if loc.line is not None and loc.col is not None and 0 < loc.line <= len(lines):
            src = lines[loc.line - 1]
            gutter = " " * len(str(loc.line))
            out.append(f"{gutter} |\n", style="blue")
            out.append(f"{loc.line} | ", style="blue")
            out.append(src + "\n")
            out.append(f"{gutter} | ", style="blue")
            pad = "".join("\t" if c == "\t" else " " for c in src[: loc.col - 1])  # under a tab, tabs
            width = 1 if src[loc.col - 1 : loc.col] == "\t" else _token_width(src, loc.col)
            out.append(pad + "^" * width + "\n", style="bold red")
        elif loc.text is not None and loc.line is None:  # a --set override: caret under its value
            shown = f"{loc.source} {loc.text}"
            key, eq, value = loc.text.partition("=")
            start = len(loc.source) + 1 + (len(key) + 1 if eq else 0)
            width = max(1, len(value) if eq else len(loc.text))
            last = str(issue.path[-1]) if issue.path else ""
            if issue.code == "unknown_key" and last and last in key:  # the misspelt key, not the value
                start, width = len(loc.source) + 1 + key.rindex(last), len(last)
            out.append("   |\n", style="blue")
            out.append("   | ", style="blue")
            out.append(shown + "\n")
            out.append("   | ", style="blue")
            out.append(" " * start + "^" * width + "\n", style="bold red")
    if issue.path or issue.code != "syntax":  # a syntax error has no spec path: no value was read
        out.append("   = at ", style="blue")
        out.append(format_path(issue.path) + "\n")
    if issue.hint:
        out.append("   = help: ", style="blue")
        out.append(issue.hint + "\n")
    return out


def print_issues(issues: Sequence[SpecIssue], console: Console) -> None:
    """Print every issue, then a one-line count."""
    for issue in issues:
        console.print(issue_text(issue))
    n = len(issues)
    console.print(Text(f"{n} error{'s' if n != 1 else ''} found", style="bold red"))


def issues_json(issues: Sequence[SpecIssue]) -> str:
    """Every issue as a JSON document for editors and CI."""
    return json.dumps({"ok": False, "errors": [i.to_dict() for i in issues]}, indent=2)

"""Rendering spec errors: the source excerpt follows the file as it is now."""

from __future__ import annotations

import os

from blockforge.diagnostics import issue_text
from blockforge.errors import Location, SpecIssue


def test_a_changed_file_is_read_again(tmp_path):
    """A long-lived process (editor, notebook) must not show an excerpt of the file as it once was."""
    path = tmp_path / "spec.yaml"
    path.write_text("model:\n  heads: 3\n")
    issue = SpecIssue(("model", "heads"), "bad heads", Location(str(path), 2, 10))
    assert "heads: 3" in issue_text(issue).plain
    path.write_text("model:\n  heads: 77\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a coarse clock would hide the edit
    text = issue_text(issue).plain
    assert "heads: 77" in text and "heads: 3\n" not in text

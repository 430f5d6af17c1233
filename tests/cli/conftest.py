"""CLI test fixtures: a fixed console width, so no test depends on the terminal that runs pytest."""

from __future__ import annotations

import pytest

from blockforge.cli import _app

WIDTH = 100


@pytest.fixture(autouse=True)
def fixed_console_width():
    """Pin both CLI consoles to ``WIDTH`` columns for the test, then restore them.

    Rich takes its width from ``COLUMNS`` or from the terminal on fd 0-2, which differ between a
    developer's shell and CI; tables would wrap differently and text assertions would flake.
    """
    saved = (_app.out._width, _app.err._width)  # noqa: SLF001 - rich keeps no public "unset" value
    _app.out.width = WIDTH
    _app.err.width = WIDTH
    yield WIDTH
    _app.out._width, _app.err._width = saved  # noqa: SLF001

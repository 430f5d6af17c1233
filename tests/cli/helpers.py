"""The in-process command runner the CLI tests share."""

from __future__ import annotations

from typer.testing import CliRunner

from blockforge.cli import app

runner = CliRunner()


def invoke(*args: str):  # noqa: ANN201 - typer's Result
    """Run ``blockforge ARGS`` in-process; an unexpected exception fails the test with its traceback."""
    return runner.invoke(app, list(args), catch_exceptions=False)

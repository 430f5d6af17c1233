"""The ``blockforge`` command line (typer + rich).

Exit codes: 0 success, 1 invalid spec or failed command, 2 usage error, 3 internal error.
Each command lives in its own module; :data:`blockforge.cli.commands.COMMANDS` lists them all, and a
command's module is imported only when that command runs.
"""

from __future__ import annotations

import os
import sys

from blockforge.cli._app import app

EXIT_INTERNAL = 3


def main() -> None:
    """Console-script entry point. Unexpected errors print one line, not a traceback
    (``BLOCKFORGE_DEBUG=1`` shows it)."""
    try:
        app(prog_name="blockforge")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except OSError as exc:  # the file system said no (a missing folder, permissions, a full disk): not a bug
        if os.environ.get("BLOCKFORGE_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"error: {exc.strerror or exc}{where}\n")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - last line of defence for the user's terminal
        if os.environ.get("BLOCKFORGE_DEBUG"):
            raise
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "this is a bug in blockforge or a plugin; rerun with BLOCKFORGE_DEBUG=1 for the traceback\n"
        )
        sys.exit(EXIT_INTERNAL)


__all__ = ["app", "main"]

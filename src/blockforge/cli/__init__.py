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
    (``BLOCKFORGE_DEBUG=1`` shows it).

    An exception that passed through a plugin's code (its factory, ``check``, ``forward``, a function it
    patched), ``SystemExit`` and other ``BaseException`` subclasses included, is reported as that plugin's
    failure with its file:line and exit code 1; only a real Ctrl-C exits 130.
    """
    from blockforge.registry.plugins import is_real_interrupt, prime_pydantic_plugins, watch_interrupts

    watch_interrupts()
    prime_pydantic_plugins()
    try:
        app(prog_name="blockforge")
    except SystemExit as exc:
        if _plugin_failure(exc):
            sys.exit(EXIT_INVALID)
        raise
    except KeyboardInterrupt as exc:
        if is_real_interrupt(exc) or not _plugin_failure(exc):
            sys.stderr.write("interrupted\n")
            sys.exit(130)
        sys.exit(EXIT_INVALID)
    except OSError as exc:  # the file system said no (a missing folder, permissions, a full disk): not a bug
        if os.environ.get("BLOCKFORGE_DEBUG"):
            raise
        if _plugin_failure(exc):
            sys.exit(EXIT_INVALID)
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"error: {exc.strerror or exc}{where}\n")
        sys.exit(1)
    except MemoryError:
        if os.environ.get("BLOCKFORGE_DEBUG"):
            raise
        sys.stderr.write("error: out of memory; try smaller sizes (--batch, --seq-len, --set ...), or the meta "
                         "device (`blockforge summary`)\n")
        sys.exit(EXIT_INVALID)
    except BaseException as exc:  # noqa: BLE001 - last line of defence for the user's terminal
        if os.environ.get("BLOCKFORGE_DEBUG"):
            raise
        if _plugin_failure(exc):
            sys.exit(EXIT_INVALID)
        sys.stderr.write(
            f"internal error: {_describe(exc)}\n"
            "this is a bug in blockforge or a plugin; rerun with BLOCKFORGE_DEBUG=1 for the traceback\n"
        )
        sys.exit(EXIT_INTERNAL)


EXIT_INVALID = 1


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises
        text = "<message could not be printed>"
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def _plugin_failure(exc: BaseException) -> bool:
    """Print the error as the failure of the plugin whose code it passed through; False if none did."""
    from blockforge.registry.plugins import blame

    if isinstance(exc, SystemExit) and exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
        return False  # raised by the CLI itself (click's sys.exit), not from deeper code
    found = blame(exc)
    if found is None:
        return False
    info, where = found
    sys.stderr.write(
        f"error: plugin {info.label} failed in its own code at {where}: {_describe(exc)}\n"
        f"  = help: fix or update the plugin, or skip it with --disable-plugin {info.name}"
        f"{'' if os.environ.get('BLOCKFORGE_DEBUG') else '; BLOCKFORGE_DEBUG=1 shows the traceback'}\n"
    )
    if os.environ.get("BLOCKFORGE_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    return True


__all__ = ["app", "main"]

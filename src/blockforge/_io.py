"""Writing output files atomically: a reader sees the old file or the whole new one, never half of one.

Every file blockforge writes (a state dict, a schema, an imported spec, safetensors weights) goes
through :func:`atomic_path`. Torch-free.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from blockforge.errors import BlockforgeError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | Path) -> Path:
    """Check, before any expensive work, that ``path`` can be written.

    Args:
        path: the output file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        BlockforgeError: the folder does not exist, is not a folder or is not writable, or ``path``
            is a folder.
    """
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise BlockforgeError(f"cannot write {target}: it is a directory; give a file name")
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise BlockforgeError(f"cannot write {target}: the folder {parent} {why}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BlockforgeError(f"cannot write {target}: the folder {parent} is not writable")
    return target


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; when the block succeeds, move it to ``path``.

    The new file gets the permissions a plain ``open(path, "w")`` would (``0o666`` less the umask),
    and its data is flushed to disk before the rename. If the block raises, the temporary file is
    removed and ``path`` is left as it was.

    Args:
        path: the file to write.

    Yields:
        The temporary file's name, for a writer that takes a path (``torch.save``, ``save_file``).

    Raises:
        BlockforgeError: the file cannot be created or replaced (with the operating system's reason).
    """
    target = check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise BlockforgeError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise BlockforgeError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`).

    Raises:
        BlockforgeError: the file cannot be written.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)

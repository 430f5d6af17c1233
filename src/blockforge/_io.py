"""Writing output files atomically: a reader sees the old file or the whole new one, never half of one.

Every file blockforge writes (a state dict, a schema, an imported spec, safetensors weights) goes
through :func:`atomic_path`. The rules, so that ``-o`` can never do more than write a file:

- only a regular file is replaced: a device (``-o /dev/null``), a FIFO, a socket or a folder is refused,
  and a symbolic link is followed (the file it names is replaced, the link stays);
- a read-only target (no write permission for us, or no write bit at all) is refused, not overwritten;
- a target owned by another user is refused (root keeps the owner instead);
- the new file keeps the old file's permission bits; a new file gets ``0o666`` less the umask (the
  mode passed to ``os.open``: the umask itself is never changed);
- the temporary file is visible and names its writer (``out.pt.blockforge-<pid>-<random>.partial``):
  one left behind by a killed process is removed by the next write of the same file once that process
  is gone.

Torch-free.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from blockforge.errors import BlockforgeError

PARTIAL = ".partial"
_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_writable(path: str | Path) -> Path:
    """Check, before any expensive work, that ``path`` can be written.

    Args:
        path: the output file (a symbolic link is followed).

    Returns:
        The file that will be written, as a :class:`~pathlib.Path` (the link's target for a link).

    Raises:
        BlockforgeError: the folder does not exist, is not a folder or is not writable; ``path`` is a
            folder, a device, a FIFO or a socket; ``path`` is read-only or owned by another user.
    """
    given = Path(path)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    parent = target.parent
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None  # a new file (or a bad folder, said below)
    except OSError as exc:
        raise BlockforgeError(f"cannot write {given}: {exc.strerror or exc}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise BlockforgeError(f"cannot write {given}: it is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise BlockforgeError(f"cannot write {given}: it is {_kind(st.st_mode)}, not a regular file; "
                                  "blockforge only replaces regular files")
        if not os.access(target, os.W_OK) or not st.st_mode & 0o222:
            raise BlockforgeError(f"cannot write {given}: the file is read-only "
                                  f"(mode {stat.S_IMODE(st.st_mode):04o}); remove it or make it writable first")
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid() and os.geteuid() != 0:
            raise BlockforgeError(f"cannot write {given}: the file belongs to another user (uid {st.st_uid}); "
                                  "replacing it would change its owner")
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise BlockforgeError(f"cannot write {given}: the folder {parent} {why}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BlockforgeError(f"cannot write {given}: the folder {parent} is not writable")
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove temporary files of ``target`` left by writers that no longer run (killed mid-write).

    Args:
        target: the output file.

    Returns:
        The files removed.
    """
    removed = []
    prefix = f"{target.name}.blockforge-"
    try:
        names = [n for n in os.listdir(target.parent) if n.startswith(prefix) and n.endswith(PARTIAL)]
    except OSError:
        return removed
    for name in names:
        pid_text = name[len(prefix):-len(PARTIAL)].split("-", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            try:
                os.unlink(target.parent / name)
                removed.append(target.parent / name)
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; when the block succeeds, move it to ``path``.

    The new file keeps the permission bits of the file it replaces; a new file gets ``0o666`` less
    the umask, as a plain ``open(path, "w")`` would. Its data is flushed to disk before the rename.
    If the block raises, the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the file to write (see :func:`check_writable` for what is refused).

    Yields:
        The temporary file's name, for a writer that takes a path (``torch.save``, ``save_file``).

    Raises:
        BlockforgeError: the file cannot be created or replaced (with the operating system's reason).
    """
    target = check_writable(path)
    remove_stale_partials(target)
    tmp = str(target.parent / f"{target.name}.blockforge-{os.getpid()}-{secrets.token_hex(4)}{PARTIAL}")
    try:
        old = os.stat(target)
    except OSError:
        old = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
                new = os.fstat(fd)
                if (old.st_uid, old.st_gid) != (new.st_uid, new.st_gid):
                    with contextlib.suppress(OSError):  # root keeps a user's owner; a user keeps the group
                        os.fchown(fd, old.st_uid, old.st_gid)
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    except OSError as exc:
        raise BlockforgeError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        yield tmp
        st = os.stat(tmp, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise BlockforgeError(f"cannot write {path}: the temporary file {tmp} was replaced by "
                                  f"{_kind(st.st_mode)}")
        if stat.S_IMODE(st.st_mode) != mode:  # a writer that re-created the file
            os.chmod(tmp, mode)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        check_writable(path)  # still a regular, writable file of ours (not swapped while we wrote)
        os.replace(tmp, target)
    except OSError as exc:
        raise BlockforgeError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`).

    Raises:
        BlockforgeError: the file cannot be written.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)

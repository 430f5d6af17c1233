"""Atomic output files: all or nothing, the umask's permissions, errors that say why."""

from __future__ import annotations

import os
import stat

import pytest

from blockforge._io import atomic_path, check_writable, write_text_atomic
from blockforge.errors import BlockforgeError


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="writer broke"), atomic_path(target) as tmp:
        with open(tmp, "w") as fh:
            fh.write("half of the new")
        raise RuntimeError("writer broke")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_written_files_get_the_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
        os.umask(0o027)
        write_text_atomic(tmp_path / "b.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o640
    assert (tmp_path / "a.json").read_text() == "{}"


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing" / "x.pt", "the folder .*missing does not exist"),
    (lambda d: d / "file" / "x.pt", "the folder .*file is not a directory"),
    (lambda d: d, "it is a directory"),
])
def test_unwritable_targets_are_refused_with_the_reason(tmp_path, make, message):
    (tmp_path / "file").write_text("")
    with pytest.raises(BlockforgeError, match=message):
        check_writable(make(tmp_path))
    with pytest.raises(BlockforgeError, match=message), atomic_path(make(tmp_path)):
        pytest.fail("the block must not run")


# -- issue 18 item 14: -o only ever writes a regular file ---------------------------------------------


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_device_or_fifo_is_never_replaced(tmp_path, kind):
    if kind == "device":
        target = "/dev/null"
    else:
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    before = os.stat(target)
    with pytest.raises(BlockforgeError, match="not a regular file"):
        write_text_atomic(target, "{}")
    after = os.stat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)


def test_the_cli_refuses_a_device_as_output(tmp_path):
    from tests.cli.helpers import invoke

    result = invoke("schema", "-o", "/dev/null")
    assert result.exit_code == 1 and "not a regular file" in result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_the_target_keeps_its_mode(tmp_path):
    target = tmp_path / "secret.json"
    target.write_text("old")
    os.chmod(target, 0o600)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_read_only_target_is_refused(tmp_path):
    target = tmp_path / "ro.json"
    target.write_text("old")
    os.chmod(target, 0o444)
    with pytest.raises(BlockforgeError, match="read-only"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old" and stat.S_IMODE(target.stat().st_mode) == 0o444


def test_another_users_file_keeps_its_owner_or_is_refused(tmp_path):
    target = tmp_path / "theirs.json"
    target.write_text("old")
    if os.geteuid() == 0:
        os.chown(target, 12345, 12345)
        write_text_atomic(target, "new")
        st = target.stat()
        assert target.read_text() == "new" and (st.st_uid, st.st_gid) == (12345, 12345)
    else:  # pragma: no cover - CI runs as root; a user cannot chown, so the refusal is checked by review
        pytest.skip("needs root to make a file owned by another user")


def test_a_symlink_is_followed_and_kept(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_the_umask_is_left_alone(tmp_path, monkeypatch):
    def no_umask(mask):
        raise AssertionError("os.umask called: it is process-wide state another thread may be using")

    monkeypatch.setattr(os, "umask", no_umask)
    write_text_atomic(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}"


def test_a_partial_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    target = tmp_path / "model.pt"
    orphan = tmp_path / f"model.pt.blockforge-{pid}-deadbeef.partial"
    orphan.write_text("half")
    alive = tmp_path / f"model.pt.blockforge-{os.getppid()}-cafe.partial"  # a writer still running: kept
    alive.write_text("half")
    write_text_atomic(target, "whole")
    assert not orphan.exists() and alive.exists() and target.read_text() == "whole"
    assert not orphan.name.startswith(".")  # visible, and it names its writer

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

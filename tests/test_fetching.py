"""The fetch lock every downloading source takes (unlearn.data.fetching)."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from unlearn.data.fetching import fetching


def _is_locked(data_dir: Path) -> bool:
    """Whether another open file description can take data_dir's lock right now (as another job would)."""
    with open(data_dir / ".lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def test_lock_is_held_only_while_fetching(tmp_path: Path) -> None:
    data_dir = tmp_path / "root" / "cifar10"
    with fetching(data_dir):
        assert _is_locked(data_dir)
        (data_dir / "batch").write_bytes(b"x")
    assert not _is_locked(data_dir) and (data_dir / "batch").is_file()


def test_failure_removes_only_the_folders_it_created(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(OSError, match="offline"):
        with fetching(root / "mnist"):
            (root / "mnist" / "MNIST" / "raw").mkdir(parents=True)
            raise OSError("offline")
    assert not root.exists()  # the lock file went with the folders

    (root / "mnist").mkdir(parents=True)
    with pytest.raises(OSError, match="offline"):
        with fetching(root / "mnist"):
            raise OSError("offline")
    assert (root / "mnist").is_dir()  # it was there before: the user's


def test_failure_keeps_a_partial_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "root" / "cifar10"
    with pytest.raises(OSError):
        with fetching(data_dir):
            (data_dir / "cifar-10-python.tar.gz").write_bytes(b"half")
            raise OSError("connection reset")
    assert (data_dir / "cifar-10-python.tar.gz").read_bytes() == b"half"

"""Downloading or unpacking a dataset into its folder: one job at a time, no trace on failure.

The jobs of a Hydra sweep (local joblib or SLURM array) start together on a fresh machine,
and each finds the dataset missing. Without a lock every one of them would download and
unpack into the same folder and break the others' half-written files (a 30 GB Clothing1M
archive streamed into one staging folder by ten jobs at once). ``fetching`` serialises them
on ``data_dir/.lock``; a source checks again under the lock whether an earlier job finished,
so only the first one fetches. The lock is ``flock``: it holds across nodes on NFSv4 and on
Lustre mounted with ``-o flock``.

Reading never takes the lock, so a complete, read-only copy of a dataset needs none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from unlearn.runs import LOCK_NAME, locked


def first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet, i.e. the one a download would create."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def remove_empty_dirs(top: Path) -> None:
    """Drop ``top`` and the folders under it that hold nothing, deepest first.

    A failed download leaves only empty folders behind; dropping them makes the data root look
    untouched. Anything holding a file (a partial archive) is kept: torchvision re-checks its
    md5 and fetches it again on the next try.
    """
    if not top.is_dir():
        return
    for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [top]:
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


@contextlib.contextmanager
def fetching(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir``'s lock while files land there; if that fails, remove the folders it created.

    The lock file goes too when this call created ``data_dir``. A job that was already waiting
    on it then holds a lock nobody else can see, so after a failed fetch two waiting jobs may
    both retry at once; only a failure (which they would most likely repeat) opens that window.
    """
    created = first_missing(data_dir)
    try:
        with locked(data_dir):
            yield
    except BaseException:
        if created is not None:
            (data_dir / LOCK_NAME).unlink(missing_ok=True)
            remove_empty_dirs(created)
        raise

"""A condensed set on disk: ``condensed.safetensors`` (tensors only, safe to load) + ``condensed.json``.

Another command reuses a set through ``condensed=<dir>``; the metadata says which
dataset, normalisation and forget request it was built for, so a set built for one dataset
cannot silently feed a run on another.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from unlearn.condense.base import CondensedSet
from unlearn.errors import ConfigError, DataUnavailableError, one_line

TENSORS = "condensed.safetensors"
META = "condensed.json"
RESUME = "build.ckpt"  # a pixel-learning build's resume point (condense/synthetic.py), gone once the set is saved


def save(cset: CondensedSet, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # The metadata is written last, so it marks a complete set; a tensors file without it is what a
    # kill between the two renames left, and is replaced.
    if (directory / META).exists():
        raise FileExistsError(f"{directory / META} exists; not overwriting a condensed set (use a new run dir)")
    tensors = {"images": cset.images.contiguous(), "labels": cset.labels, "members": cset.members,
               "offsets": cset.offsets, "raw": cset.raw}
    # Temporary names, then renames, tensors first: a kill mid-write leaves nothing that read_meta
    # would take for a complete set (it needs both files under their real names).
    tmp = directory / (TENSORS + ".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, directory / TENSORS)
    tmp = directory / (META + ".tmp")
    tmp.write_text(json.dumps(cset.meta, indent=2, default=float) + "\n")
    os.replace(tmp, directory / META)
    return directory


def drop_resume_point(directory: Path) -> None:
    """The set is saved: a build's resume point (condense/synthetic.py) has nothing left to resume."""
    (Path(directory) / RESUME).unlink(missing_ok=True)


def rows_digest(rows: torch.Tensor) -> str:
    """A fingerprint of index rows (a forget request, a train split), to tell sets apart exactly."""
    return hashlib.sha256(rows.long().cpu().numpy().tobytes()).hexdigest()


def is_complete(directory: Path) -> bool:
    """Both files under their real names: what ``save`` leaves only once it has finished."""
    return (directory / TENSORS).is_file() and (directory / META).is_file()


def read_meta(directory: str | Path, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """A saved set's metadata, without its tensors: enough to refuse a wrong set before any work.

    ``expect`` pairs (e.g. ``{"dataset": "digits"}``) must match it.
    """
    directory = Path(directory).expanduser()
    if not is_complete(directory):
        raise DataUnavailableError(f"condensed={str(directory)!r} holds no condensed set "
                                   f"({TENSORS} + {META}); run condense.py first and pass its run dir")
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"condensed={str(directory)!r}: {META} is unreadable ({one_line(err)})") from err
    for key, want in (expect or {}).items():
        if key in meta and meta[key] != want:
            raise ConfigError(f"condensed={str(directory)!r} was built for {key}={meta[key]!r}, "
                              f"not {key}={want!r}")
    return meta


def load(directory: str | Path, expect: dict[str, Any] | None = None) -> CondensedSet:
    """Load a saved set; ``expect`` pairs (e.g. ``{"dataset": "digits"}``) must match its metadata."""
    from safetensors import SafetensorError

    meta = read_meta(directory, expect)
    try:
        t = load_file(str(Path(directory).expanduser() / TENSORS))
    except (SafetensorError, OSError) as err:
        raise ConfigError(f"condensed={str(directory)!r}: {TENSORS} is not a readable safetensors file "
                          f"({one_line(err)})") from err
    return CondensedSet(t["images"], t["labels"], t["members"], t["offsets"], t["raw"].bool(), meta)

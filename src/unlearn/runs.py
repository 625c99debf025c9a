"""Where artifacts live and how they are keyed, so sweeps share upstream models safely.

A stage's directory is named by a hash of exactly the config that determines its weights
(dataset split, corruption, arch, recipe, seeds, precision; not paths, worker counts or
eval batch sizes). Identical requests therefore find the same directory, different ones
never collide, and a finished artifact is never written twice. A file lock serialises
concurrent sweep jobs that want the same stage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# Keys that say where or how fast, never what: they stay out of cache keys.
VOLATILE_KEYS = frozenset({"root", "num_workers", "eval_batch_size", "download", "data_dir", "cache_dir"})
LOCK_NAME = ".lock"


def _strip(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _target_name(v) if k == "_target_" else _strip(v)
                for k, v in sorted(obj.items(), key=lambda kv: str(kv[0])) if k not in VOLATILE_KEYS}
    if isinstance(obj, (list, tuple)):
        return [_strip(v) for v in obj]
    return obj


def _target_name(target: Any) -> Any:
    """A ``_target_`` enters a key by its class or function name, not the module path: where the code
    lives says nothing about the weights it makes, and moving a module must not retrain every model."""
    return target.rpartition(".")[2] if isinstance(target, str) else target


def cache_key(material: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit key of a (nested) config mapping."""
    blob = json.dumps(_strip(material), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Exclusive lock on ``directory`` across processes (jobs of one sweep, parallel launchers)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")
    os.replace(tmp, path)


def write_json_new(path: Path, data: Mapping[str, Any]) -> None:
    """Like ``write_json`` but refuse to replace a file that already exists."""
    if path.exists():
        raise FileExistsError(f"{path} exists; not overwriting it (use a new run directory)")
    write_json(path, data)

"""Secrets (HF_TOKEN, OPENXLAB_AK/SK) from the environment or a ``.env`` file.

The reference read credentials from ``.env``; users keep that habit, and a sweep launched
from a login node should not need them exported. The environment always wins, so CI and
cluster launchers can override a stale file.
"""

from __future__ import annotations

import os
from pathlib import Path


def _candidates() -> list[Path]:
    roots = [Path.cwd()]
    if os.environ.get("UNLEARN_ROOT"):
        roots.insert(0, Path(os.environ["UNLEARN_ROOT"]))
    try:  # Hydra changes into the run dir when hydra.job.chdir is set; look where the user started
        from hydra.utils import get_original_cwd

        roots.append(Path(get_original_cwd()))
    except (ImportError, ValueError):
        pass
    return [r / ".env" for r in roots]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments, ``export`` prefixes and quotes are allowed."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def secret(name: str) -> str | None:
    """``name`` from the environment, else from the first ``.env`` that defines it, else None."""
    if os.environ.get(name):
        return os.environ[name]
    for path in _candidates():
        if path.is_file():
            value = read_env_file(path).get(name)
            if value:
                return value
    return None

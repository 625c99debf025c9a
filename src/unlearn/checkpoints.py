"""Model weights as safetensors with metadata naming the arch that made them.

safetensors holds tensors only, so loading can never execute code; the metadata lets a
checkpoint of another arch or class count be refused with one clear line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from unlearn.errors import ConfigError, one_line
from unlearn.models.classifier import Classifier


def save_model(path: Path, net: Classifier, meta: Mapping[str, Any] | None = None) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    info = {"arch": net.arch, **{k: json.dumps(v, default=str) for k, v in (meta or {}).items()}}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=info)
    os.replace(tmp, path)


def read_meta(path: Path) -> dict[str, str]:
    """A checkpoint's metadata; a file that is not safetensors (or is truncated) is refused in one line."""
    from safetensors import SafetensorError

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(f"checkpoint {str(path)!r} is not a safetensors model file "
                          f"({one_line(err)}); pass a model.safetensors this project wrote") from err


def check_arch(path: Path, saved_arch: str | None, arch: str) -> None:
    """A checkpoint of another arch, refused by name (a net's ``arch`` is its config name, so this
    runs before any net is built: app/preflight.py)."""
    if saved_arch != arch:
        raise ConfigError(f"checkpoint {str(path)!r} is of arch {saved_arch!r}, but arch={arch!r}; "
                          f"use a checkpoint of {arch!r} or set arch={saved_arch}")


def load_state(path: Path, net: Classifier) -> dict[str, torch.Tensor]:
    """Load weights for ``net``, refusing a checkpoint saved for another arch or shape."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {str(path)!r} does not exist")
    check_arch(path, read_meta(path).get("arch"), net.arch)
    state = load_file(str(path))
    expected = net.state_dict()
    bad = [k for k in expected if k not in state or state[k].shape != expected[k].shape]
    if bad:
        k = bad[0]
        got = tuple(state[k].shape) if k in state else "missing"
        raise ConfigError(f"checkpoint {str(path)!r} does not fit this {net.arch} ({k}: {got} vs "
                          f"{tuple(expected[k].shape)}); was it trained on a dataset with another class count?")
    return state

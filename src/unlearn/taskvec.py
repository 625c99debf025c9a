"""Task-vector arithmetic on state dicts (spec 4).

A task vector is a dict of float tensors ``finetuned - reference`` over the keys an arch
allows: BatchNorm modules are left out whole (weights, biases and running statistics all
stay at the reference model's values) and so is any prefix the arch excludes (a frozen
zero-shot head). Everything is computed on CPU in float32, so vectors from GPU runs,
mixed precision or DDP ranks compare exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

StateDict = Mapping[str, torch.Tensor]
TaskVector = dict[str, torch.Tensor]


def batchnorm_prefixes(state: StateDict) -> set[str]:
    """Module prefixes that own running statistics, i.e. BatchNorm layers."""
    return {k.rsplit(".", 1)[0] for k in state if k.endswith(("running_mean", "running_var"))}


def vector_keys(state: StateDict, exclude: Iterable[str] = ()) -> list[str]:
    """The keys a task vector covers: float tensors outside BN modules and excluded prefixes."""
    bn = batchnorm_prefixes(state)
    exclude = tuple(exclude)
    keys = []
    for k, v in state.items():
        if not torch.is_floating_point(v):
            continue
        if k.rsplit(".", 1)[0] in bn or (exclude and k.startswith(exclude)):
            continue
        keys.append(k)
    return keys


def task_vector(reference: StateDict, finetuned: StateDict, exclude: Iterable[str] = ()) -> TaskVector:
    keys = [k for k in vector_keys(reference, exclude) if k in finetuned]
    return {k: finetuned[k].detach().float().cpu() - reference[k].detach().float().cpu() for k in keys}


def mean_vector(vectors: list[TaskVector]) -> TaskVector:
    """Element-wise mean over proxy seeds (spec 4.2: averaged, not summed)."""
    if not vectors:
        raise ValueError("mean of no task vectors")
    keys = vectors[0].keys()
    return {k: torch.stack([v[k] for v in vectors]).mean(dim=0) for k in keys}


def apply(reference: StateDict, vector: TaskVector, alpha: float) -> dict[str, torch.Tensor]:
    """``reference + alpha * vector``; keys outside the vector keep the reference values."""
    out = {k: v.detach().clone() for k, v in reference.items()}
    for k, delta in vector.items():
        out[k] = (reference[k].detach().float().cpu() + alpha * delta).to(dtype=reference[k].dtype, device=reference[k].device)
    return out


def norm(vector: TaskVector) -> float:
    return float(torch.sqrt(sum((v.double() ** 2).sum() for v in vector.values())))


def cosine(a: TaskVector, b: TaskVector) -> float:
    keys = [k for k in a if k in b]
    dot = sum((a[k].double() * b[k].double()).sum() for k in keys)
    na = torch.sqrt(sum((a[k].double() ** 2).sum() for k in keys))
    nb = torch.sqrt(sum((b[k].double() ** 2).sum() for k in keys))
    return float(dot / (na * nb).clamp_min(1e-30))


def random_like(vector: TaskVector, seed: int) -> TaskVector:
    """The random-vector control: per key, uniform [0, 1) noise rescaled to that key's norm.

    Seeded by ``seed`` (the reference ignored its seed argument, spec 12). Keys are drawn in sorted
    order: a vector built from freshly trained weights and one from weights loaded from disk list
    their keys in different orders, and the control must not depend on which it was.
    """
    gen = torch.Generator().manual_seed(int(seed))
    out: TaskVector = {}
    for k in sorted(vector):
        v = vector[k]
        r = torch.rand(v.shape, generator=gen, dtype=torch.float32)
        out[k] = r * (v.norm() / r.norm().clamp_min(1e-30))
    return {k: out[k] for k in vector}


def save_vector(path: Path, vector: TaskVector, arch: str, meta: Mapping[str, Any] | None = None) -> Path:
    """Write a task vector as safetensors, its arch and provenance in the metadata (atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"kind": "task_vector", "arch": arch, **{k: json.dumps(v, default=str) for k, v in (meta or {}).items()}}
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in vector.items()}, str(tmp), metadata=info)
    os.replace(tmp, path)
    return path


def load_vector(path: str | Path, arch: str, expected: StateDict, key: str = "method.tau") -> tuple[TaskVector, dict]:
    """A task vector saved by ``save_vector``, checked against the model it will be added to.

    Refused in one line (``ConfigError``) when the file is missing, is not a safetensors task
    vector, was made for another arch, or does not cover exactly the keys and shapes of
    ``expected`` (a vector's keys: ``vector_keys`` of the model's state).
    """
    from safetensors import SafetensorError, safe_open

    from unlearn.errors import ConfigError, bad_value, one_line

    path = Path(path).expanduser()
    if not path.is_file():
        raise bad_value(key, str(path), "a tau.safetensors file written by a CUTS run")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            vector = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(f"{key}={str(path)!r} is not a safetensors task vector ({one_line(err)})") from err
    if meta.get("kind") != "task_vector":
        raise ConfigError(f"{key}={str(path)!r} holds no task vector (a model checkpoint? use a run's tau.safetensors)")
    if meta.get("arch") != arch:
        raise ConfigError(f"{key}={str(path)!r} is a task vector of arch {meta.get('arch')!r}, but arch={arch!r}; "
                          f"use one made by a {arch} run or set arch={meta.get('arch')}")
    for k in sorted(set(vector) | set(expected)):
        if k not in vector or k not in expected or vector[k].shape != expected[k].shape:
            got = tuple(vector[k].shape) if k in vector else "missing"
            want = tuple(expected[k].shape) if k in expected else "not in this model"
            raise ConfigError(f"{key}={str(path)!r} does not fit this {arch} ({k}: {got} vs {want}); "
                              "was it made for another width or class count?")
    return vector, {k: (v if k in ("kind", "arch") else json.loads(v)) for k, v in meta.items()}

"""The scaffolding the pixel-learning baselines (DM, IDM, GM) share.

DM, IDM and GM all learn free synthetic pixels, initialised from random real images of each
class, by matching a statistic of real and synthetic batches under a random ConvNet-3 and DSA.
``SyntheticCondenser`` holds what they share (the retain pool, the initialisation, real-batch
sampling, seeds, the output with each synthetic image's source index as its member); each
method only writes its optimisation loop. Spec blend_aamu §6.

Every random choice draws from a seed derived from ``(self.seed, purpose, counters...)``, so a
run is reproducible, two purposes never share a stream, and the global RNG is left alone.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from unlearn.condense.base import CondensedSet, Condenser, Pool
from unlearn.condense.dsa import DEFAULT_STRATEGY, DSA
from unlearn.errors import bad_value

log = logging.getLogger("unlearn")

# Purposes of derived seeds (any distinct integers).
INIT, SAMPLE, NET, AUGMENT, INNER = 1, 2, 3, 4, 5


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part; SeedSequence hashing keeps nearby tuples unrelated."""
    words = [int(p) % (1 << 64) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass
class SyntheticSet:
    """The learnable images of one run and the real images they are matched against.

    ``groups[k] = (c, start, end)``: synthetic rows ``start:end`` are class ``c``; ``real_rows[k]``
    are that class's rows of ``real`` (on the device). Classes with no real image are absent.
    """

    real: Tensor
    real_rows: list[Tensor]
    images: Tensor
    labels: Tensor
    sources: Tensor
    groups: list[tuple[int, int, int]]
    sampler: torch.Generator

    def real_batch(self, k: int, size: int) -> Tensor:
        """Up to ``size`` random real images of group ``k`` (all of them when the class is smaller)."""
        rows = self.real_rows[k]
        if rows.numel() > size:
            pick = torch.randperm(rows.numel(), generator=self.sampler)[:size]
            rows = rows[pick.to(rows.device)]
        return self.real[rows]

    def syn(self, k: int) -> Tensor:
        _, start, end = self.groups[k]
        return self.images[start:end]

    @property
    def sizes(self) -> list[int]:
        return [end - start for _, start, end in self.groups]

    def per_class(self, num_classes: int) -> list[int]:
        counts = [0] * num_classes
        for c, start, end in self.groups:
            counts[c] = end - start
        return counts


def init_from_real(pool: Pool, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
    """Synthetic images start as ``ipc`` distinct random real images of each class (fewer when the
    class has fewer, with a warning: the method then keeps the whole class)."""
    gen = torch.Generator().manual_seed(derive_seed(seed, INIT))
    labels_cpu = pool.labels.cpu()
    real_rows: list[Tensor] = []
    init_rows: list[Tensor] = []
    groups: list[tuple[int, int, int]] = []
    start = 0
    for c in range(pool.num_classes):
        rows = (labels_cpu == c).nonzero().squeeze(1)
        if rows.numel() == 0:
            log.warning("class %d has no image to condense; it gets no synthetic image", c)
            continue
        n = min(ipc, rows.numel())
        if n < ipc:
            log.warning("class %d has %d images, fewer than ipc=%d; using all of them", c, rows.numel(), ipc)
        chosen = rows[torch.randperm(rows.numel(), generator=gen)[:n]]
        real_rows.append(rows.to(device))
        init_rows.append(chosen)
        groups.append((c, start, start + n))
        start += n
    init = torch.cat(init_rows) if init_rows else torch.zeros(0, dtype=torch.long)
    real = pool.images.to(device).float()
    images = real[init.to(device)].clone().requires_grad_(True)
    labels = labels_cpu[init].to(device)
    sampler = torch.Generator().manual_seed(derive_seed(seed, SAMPLE))
    return SyntheticSet(real, real_rows, images, labels, pool.index.cpu()[init], groups, sampler)


def history(losses: list[Tensor]) -> list[float]:
    """Each iteration's loss as floats, read from the device once at the end (none ran: empty)."""
    return torch.stack(losses).cpu().tolist() if losses else []


def group_means(features: Tensor, sizes: list[int]) -> Tensor:
    """Mean feature of each consecutive block of ``sizes`` rows: ``[len(sizes), D]``."""
    return torch.stack([block.mean(0) for block in features.flatten(1).split(sizes)])


class SyntheticCondenser(Condenser):
    """Shared driver: retain pool -> real-initialised pixels -> ``optimise`` -> ``CondensedSet``."""

    def __init__(self, ipc: int, seed: int = 0, width: int = 128, depth: int = 3, iterations: int = 1000,
                 lr: float = 0.01, momentum: float = 0.5, batch_real: int = 256, dsa: bool = True,
                 dsa_strategy: str = DEFAULT_STRATEGY, max_seconds: float | None = None) -> None:
        super().__init__(ipc, seed, width, depth)
        if int(iterations) < 0:
            raise bad_value("condensation.iterations", iterations, "a non-negative number")
        if max_seconds is not None and not float(max_seconds) > 0:
            raise bad_value("condensation.max_seconds", max_seconds, "a positive number of seconds, or null (no budget)")
        if int(batch_real) < 1:
            raise bad_value("condensation.batch_real", batch_real, "a positive number of real images per class")
        self.iterations = int(iterations)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.batch_real = int(batch_real)
        self.augmenter = DSA(dsa_strategy) if dsa else None
        self.max_seconds = None if max_seconds is None else float(max_seconds)

    def augment(self, x: Tensor, seed: int, siamese: bool = True) -> Tensor:
        return x if self.augmenter is None else self.augmenter(x, seed, siamese=siamese)

    def steps(self) -> Iterator[int]:
        """The iteration indices of ``optimise``: all ``iterations`` of them, or, with ``max_seconds``, up
        to the one that spends the budget. A wall-clock budget is how one gives DM / IDM / GM the same
        time on machines of different speed; the run is then reproducible only up to where it stopped,
        which ``meta["iterations"]`` records. On a GPU each check waits for the queued work, so the
        time counted is the work done, not the work launched."""
        start = time.perf_counter()
        for it in range(self.iterations):
            yield it
            if self.max_seconds is None:
                continue
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            if time.perf_counter() - start >= self.max_seconds:
                return

    def image_optimizer(self, syn: SyntheticSet) -> torch.optim.Optimizer:
        return torch.optim.SGD([syn.images], lr=self.lr, momentum=self.momentum)

    def condense(self, pool: Pool, forget: Tensor | None = None) -> CondensedSet:
        retain = pool.without(None if forget is None else forget.to(pool.index.device))
        syn = init_from_real(retain, self.ipc, self.seed, self.device)
        history: list[float] = []
        if syn.groups and self.iterations > 0:
            history = self.optimise(syn, retain)
        meta: dict[str, Any] = {
            "method": self.name, "ipc": self.ipc, "iterations": len(history), "seed": self.seed,
            "iterations_planned": self.iterations,
            "max_seconds": self.max_seconds,
            "lr": self.lr, "momentum": self.momentum, "batch_real": self.batch_real,
            "dsa": None if self.augmenter is None else self.augmenter.strategy,
            "per_class": syn.per_class(pool.num_classes),
            "history": history, **self.extra_meta(),
        }
        groups = [src.view(1) for src in syn.sources]
        return CondensedSet.from_groups(syn.images.detach(), syn.labels, groups, meta=meta)

    def extra_meta(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def optimise(self, syn: SyntheticSet, pool: Pool) -> list[float]:
        """Update ``syn.images`` in place; return the loss of every iteration."""

"""The scaffolding the pixel-learning baselines (DM, IDM, GM) share.

DM, IDM and GM all learn free synthetic pixels, initialised from random real images of each
class, by matching a statistic of real and synthetic batches under a random ConvNet-3 and DSA.
``SyntheticCondenser`` holds what they share (the retain pool, the initialisation, real-batch
sampling, seeds, the output with each synthetic image's source index as its member); each
method only writes its optimisation loop. Spec blend_aamu §6.

Every random choice draws from a seed derived from ``(self.seed, purpose, counters...)``, so a
run is reproducible, two purposes never share a stream, and the global RNG is left alone.

The paper lengths take from minutes on a GPU to hours on a CPU, so a build given a ``ResumePoint``
(its artifact folder) saves its state there about once a minute: the pixels, the image optimiser,
the real-batch sampler's stream, the losses so far and the seconds spent. A killed build run again
goes on from there and ends with the pixels of an uninterrupted one; a wall-clock budget counts the
seconds spent before the kill too. The iteration's random net and DSA draws are derived from its
index, and IDM's fixed nets from the seed, so nothing else needs saving.
"""

from __future__ import annotations

import logging
import os
import time
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from unlearn.condense.base import CondensedSet, Condenser, Pool
from unlearn.condense.dsa import DEFAULT_STRATEGY, DSA
from unlearn.condense.store import RESUME
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
    # Seconds a killed build of this set spent before this run resumed it.
    seconds_before: float = 0.0

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


@dataclass(frozen=True)
class ResumePoint:
    """Where a build keeps its resume point (the set's artifact folder) and how often it writes it."""

    folder: Path
    every_seconds: float = 60.0


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

    # Set by the caller (None: no resume point). Not a setting: it does not change the set, and a
    # condenser's plain-valued attributes are what key its stored set.
    resume: ResumePoint | None = None

    def steps(self, syn: SyntheticSet, opt: torch.optim.Optimizer, losses: list[Tensor]) -> Iterator[int]:
        """The iteration indices of ``optimise``: all ``iterations`` of them, or, with ``max_seconds``, up
        to the one that spends the budget. A wall-clock budget is how one gives DM / IDM / GM the same
        time on machines of different speed; the run is then reproducible only up to where it stopped,
        which ``meta["iterations"]`` records. On a GPU each check waits for the queued work, so the
        time counted is the work done, not the work launched. With a ``resume`` point the loop starts
        where a killed run's last save left ``syn``, ``opt`` and ``losses``, and saves them as it goes."""
        first, syn.seconds_before = self._restore(syn, opt, losses)
        start = time.perf_counter() - syn.seconds_before
        saved = time.perf_counter()
        for it in range(first, self.iterations):
            yield it
            if self.max_seconds is not None:
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                if time.perf_counter() - start >= self.max_seconds:
                    return
            # When to save is read without waiting for the GPU; what is saved (and the seconds) after.
            if self.resume is not None and it + 1 < self.iterations and \
                    time.perf_counter() - saved >= self.resume.every_seconds:
                self._save(it + 1, start, syn, opt, losses)
                saved = time.perf_counter()

    def _save(self, next_it: int, start: float, syn: SyntheticSet, opt: torch.optim.Optimizer,
              losses: list[Tensor]) -> None:
        assert self.resume is not None
        folder = self.resume.folder
        folder.mkdir(parents=True, exist_ok=True)
        images = syn.images.detach().cpu()  # waits for the queued work
        state = {"method": self.name, "next": next_it, "seconds": time.perf_counter() - start, "images": images,
                 "optimizer": opt.state_dict(), "sampler": syn.sampler.get_state(), "losses": history(losses)}
        tmp = folder / (RESUME + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, folder / RESUME)  # a kill mid-save leaves the last whole one

    def _restore(self, syn: SyntheticSet, opt: torch.optim.Optimizer, losses: list[Tensor]) -> tuple[int, float]:
        path = None if self.resume is None else self.resume.folder / RESUME
        if path is None or not path.is_file():
            return 0, 0.0
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("method") != self.name or tuple(state["images"].shape) != tuple(syn.images.shape):
            raise ValueError(f"{path} is the resume point of another build ({state.get('method')!r}, "
                             f"{tuple(state['images'].shape)}); this folder is keyed for {self.name!r}")
        with torch.no_grad():
            syn.images.copy_(state["images"].to(syn.images.device))
        opt.load_state_dict(state["optimizer"])
        syn.sampler.set_state(state["sampler"])
        losses.extend(torch.tensor(x, device=syn.images.device) for x in state["losses"])
        log.info("%s: resuming the build at iteration %d of %d (%.0f s spent before)",
                 self.name, state["next"], self.iterations, state["seconds"])
        return int(state["next"]), float(state["seconds"])

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
            # Seconds a killed build had spent before this run resumed it (0: it ran in one go);
            # the caller adds them to the build time it measures.
            "seconds_before_resume": syn.seconds_before,
        }
        groups = [src.view(1) for src in syn.sources]
        return CondensedSet.from_groups(syn.images.detach(), syn.labels, groups, meta=meta)

    def extra_meta(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def optimise(self, syn: SyntheticSet, pool: Pool) -> list[float]:
        """Update ``syn.images`` in place; return the loss of every iteration."""

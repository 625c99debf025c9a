"""Reference points for a condensed set: the whole retain set, and a random real subset."""

from __future__ import annotations

import torch
from torch import Tensor

from unlearn.condense.base import CONDENSERS, CondensedSet, Condenser, Pool


@CONDENSERS.register("none")
class NoCondensation(Condenser):
    """The identity: the retain set as it is (the accuracy every condensed set aims for)."""

    name = "none"

    def __init__(self, ipc: int | None = None, seed: int = 0) -> None:
        super().__init__(1, seed)
        self.ipc = 0  # not a per-class budget

    def condense(self, pool: Pool, forget: Tensor | None = None) -> CondensedSet:
        retain = pool.without(forget)
        return CondensedSet.raw_images(retain, torch.arange(len(retain)), meta={"method": self.name})


def random_rows(pool: Pool, counts: Tensor, seed: int) -> Tensor:
    """``counts[c]`` rows of class ``c`` drawn uniformly with ``seed`` (all of a class if fewer)."""
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for c in range(pool.num_classes):
        rows = pool.class_rows(c)
        picked.append(rows[torch.randperm(rows.numel(), generator=gen)[: int(counts[c])]])
    return torch.cat(picked)


@CONDENSERS.register("random")
class RandomSubset(Condenser):
    """``ipc`` real retain images per class, drawn uniformly: the baseline condensation must beat."""

    name = "random"

    def condense(self, pool: Pool, forget: Tensor | None = None) -> CondensedSet:
        retain = pool.without(forget)
        rows = random_rows(retain, torch.full((pool.num_classes,), self.ipc), self.seed)
        return CondensedSet.raw_images(retain, rows, meta={"method": self.name, "ipc": self.ipc})

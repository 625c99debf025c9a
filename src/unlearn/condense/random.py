"""A random real subset: ``ipc`` retain images per class, the baseline every condenser must beat."""

from __future__ import annotations

import torch
from torch import Tensor

from unlearn.condense.base import CONDENSERS, CondensedSet, Condenser, Pool


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

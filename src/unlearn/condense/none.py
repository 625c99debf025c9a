"""No condensation: the whole retain set, the reference point every condensed set is measured against."""

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

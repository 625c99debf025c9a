"""``corruption=symmetric``: exact, seeded symmetric label noise (spec 1.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearn.data.corruption.base import NOISY, Corrupted, Corruption
from unlearn.data.imageset import ImageSet
from unlearn.registry import CORRUPTIONS


@CORRUPTIONS.register("symmetric")
@dataclass(frozen=True)
class Symmetric(Corruption):
    """Exactly floor(rate*N) samples, each moved to a uniformly drawn *other* class."""

    proxy_seeds: tuple[int, ...] = (12, 10)
    kind: ClassVar[str] = "noise"

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        n = len(data)
        gen = torch.Generator().manual_seed(self.seed)
        chosen = torch.randperm(n, generator=gen)[: int(self.rate * n)]
        labels = data.labels.clone()
        flags = torch.zeros(n, dtype=torch.long)
        for i in chosen.tolist():
            # Draw from K-1 values and skip over the true class, so the label never stays right.
            new = int(torch.randint(num_classes - 1, (1,), generator=gen))
            labels[i] = new + int(new >= int(data.labels[i]))
            flags[i] = NOISY
        return Corrupted(ImageSet(data.images, labels), data.labels.clone(), flags)

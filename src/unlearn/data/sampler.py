"""Shuffling that depends only on (seed, epoch), so a resumed run sees the same batches.

A DataLoader's own generator keeps advancing across epochs and restarts from scratch
when a run resumes; this sampler draws epoch e's order from ``seed + e``, and Lightning
calls ``set_epoch`` on it (as it does for DistributedSampler) at every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffle(Sampler[int]):
    def __init__(self, length: int, seed: int) -> None:
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=gen).tolist())

    def __len__(self) -> int:
        return self.length

"""Shuffling that depends only on (seed, epoch), so a resumed run sees the same batches.

A DataLoader's own generator keeps advancing across epochs and restarts from scratch
when a run resumes; this sampler draws epoch e's order from ``seed + e``, and Lightning
calls ``set_epoch`` on it (as it does for DistributedSampler) at every epoch.

Under DDP every rank draws the same global order and takes every ``world``-th index from
``rank``; with a per-device batch of ``B / world`` the ranks' batches of one step are,
together, exactly the single-device batch of ``B``, so averaged gradients match a
one-device run. The order is padded (by wrapping) to a multiple of ``world`` so every
rank sees the same number of batches, as DistributedSampler does.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffle(Sampler[int]):
    def __init__(self, length: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.length = int(length)
        self.seed = int(seed)
        self.rank, self.world = int(rank), int(world)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.length, generator=gen)
        padded = -(-self.length // self.world) * self.world
        if padded > self.length:
            order = torch.cat([order, order[: padded - self.length]])
        return iter(order[self.rank :: self.world].tolist())

    def __len__(self) -> int:
        return -(-self.length // self.world)

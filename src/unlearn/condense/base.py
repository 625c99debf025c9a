"""What every condensation method consumes and produces.

A method sees a ``Pool`` (normalised float images, their labels and where they sit in the
source's train split) and returns a ``CondensedSet``. Every output image keeps the list of
real images it came from (``members``, CSR-style), so the forget/retain bookkeeping of
forget-aware condensation can be checked exactly and a later command can tell which real
images a synthetic one summarises.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from unlearn.registry import Registry

CONDENSERS: Registry = Registry("condensation")


@dataclass
class Pool:
    """Images to condense: ``images`` float ``[N, C, H, W]`` (normalised), ``labels`` long ``[N]``,
    ``index`` long ``[N]`` = positions in the source's train split (what forget sets name)."""

    images: Tensor
    labels: Tensor
    index: Tensor
    num_classes: int

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.labels.shape != (n,) or self.index.shape != (n,):
            raise ValueError(f"pool of {n} images has labels {tuple(self.labels.shape)}, index {tuple(self.index.shape)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, rows: Tensor) -> Pool:
        return Pool(self.images[rows], self.labels[rows], self.index[rows], self.num_classes)

    def rows_of(self, source: Tensor) -> Tensor:
        """The rows whose ``index`` is in ``source`` (source indices), in pool order."""
        return torch.isin(self.index, source).nonzero().squeeze(1)

    def without(self, forget: Tensor | None) -> Pool:
        """The retain part: every row whose ``index`` is not in ``forget`` (source indices)."""
        if forget is None or forget.numel() == 0:
            return self
        keep = ~torch.isin(self.index, forget)
        return self.subset(keep.nonzero().squeeze(1))

    def class_rows(self, c: int) -> Tensor:
        return (self.labels == c).nonzero().squeeze(1)


@dataclass
class CondensedSet:
    """The condensed training set.

    ``members[offsets[i]:offsets[i+1]]`` are the source indices image ``i`` was made from (a
    blended cluster, the real image a synthetic one was initialised from, or the image itself
    when ``raw[i]`` is true, i.e. a residual image kept as is).
    """

    images: Tensor
    labels: Tensor
    members: Tensor
    offsets: Tensor
    raw: Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = self.images.shape[0]
        if self.labels.shape != (m,) or self.raw.shape != (m,) or self.offsets.shape != (m + 1,):
            raise ValueError("labels, raw and offsets must have one entry per image (offsets one more)")
        if int(self.offsets[-1]) != self.members.numel():
            raise ValueError("offsets[-1] must equal the number of members")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def members_of(self, i: int) -> Tensor:
        return self.members[int(self.offsets[i]):int(self.offsets[i + 1])]

    @staticmethod
    def from_groups(images: Tensor, labels: Tensor, groups: list[Tensor], raw: Tensor | None = None,
                    meta: dict[str, Any] | None = None) -> CondensedSet:
        """Build from one member-index tensor per image."""
        sizes = torch.tensor([0] + [g.numel() for g in groups], dtype=torch.long)
        members = torch.cat([g.long().cpu() for g in groups]) if groups else torch.zeros(0, dtype=torch.long)
        raw = torch.zeros(len(groups), dtype=torch.bool) if raw is None else raw.bool()
        return CondensedSet(images.detach().cpu().float(), labels.long().cpu(), members, sizes.cumsum(0), raw,
                            dict(meta or {}))

    @staticmethod
    def raw_images(pool: Pool, rows: Tensor, meta: dict[str, Any] | None = None) -> CondensedSet:
        """Pool ``rows`` kept as they are: each image is its own single member, flagged raw."""
        return CondensedSet.from_groups(pool.images[rows], pool.labels[rows], list(pool.index[rows].split(1)),
                                        raw=torch.ones(rows.numel(), dtype=torch.bool), meta=meta)

    @staticmethod
    def concat(parts: list[CondensedSet], meta: dict[str, Any] | None = None) -> CondensedSet:
        groups = [p.members_of(i) for p in parts for i in range(len(p))]
        return CondensedSet.from_groups(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
                                        groups, torch.cat([p.raw for p in parts]), meta)


class Condenser(ABC):
    """One condensation method. ``prepare`` is the work done once, before any forget request
    (Blend's clustering), timed apart from ``condense``."""

    name: str = ""

    def __init__(self, ipc: int, seed: int = 0, width: int = 128, depth: int = 3) -> None:
        from unlearn.errors import bad_value

        if int(ipc) < 1:
            raise bad_value("condensation.ipc", ipc, "a positive number of images per class")
        self.ipc = int(ipc)
        self.seed = int(seed)
        # The random ConvNet every method embeds / matches with (unlearn.models.convnet).
        self.width = int(width)
        self.depth = int(depth)
        # Set by the caller before prepare/condense; the pool's tensors may live anywhere.
        self.device = torch.device("cpu")

    def random_net(self, pool: Pool, generator_seed: int) -> torch.nn.Module:
        """A freshly initialised ConvNet whose weights depend only on ``generator_seed``."""
        from unlearn.models.convnet import convnet

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(generator_seed)
            net = convnet(tuple(pool.images.shape[1:]), pool.num_classes, width=self.width, depth=self.depth)
        return net.to(self.device)

    def prepare(self, pool: Pool) -> None:
        """Offline work over the whole training pool; the default has none."""

    @abstractmethod
    def condense(self, pool: Pool, forget: Tensor | None = None) -> CondensedSet:
        """The condensed retain set (``pool`` minus ``forget``, which holds source indices)."""

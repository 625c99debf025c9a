"""The in-memory form every source is reduced to, so corruption can work on raw pixels.

Keeping raw uint8 HWC pixels (not transformed tensors) is what lets the BadNets trigger be
stamped on the original 28x28 / 32x32 image before any resize (spec 1.6).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageSet:
    """Raw images ``uint8 [N, H, W, C]`` with integer labels ``int64 [N]``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 [N,H,W,C], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels shape {tuple(self.labels.shape)} does not match {self.images.shape[0]} images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one raw image."""
        _, h, w, c = self.images.shape
        return (c, h, w)

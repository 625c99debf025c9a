"""A torch ``Dataset`` over a corrupted split that keeps the truth next to what training sees."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from unlearn.data.corruption import Corrupted


class CorruptedImages(Dataset):
    """Items are dicts: ``x`` (transformed), ``y`` (training label), ``y_true``, ``flag``, ``idx``."""

    def __init__(self, split: Corrupted, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.split = split
        self.transform = transform
        images = split.data.images
        # In-memory pixels: CHW once, so __getitem__ does no layout work per sample.
        # File-backed (lazy) images are decoded per item instead, already CHW.
        self._chw = images.permute(0, 3, 1, 2).contiguous() if isinstance(images, torch.Tensor) else None

    def __len__(self) -> int:
        return len(self.split.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        raw = self._chw[i] if self._chw is not None else self.split.data.images.chw(i)
        return {
            "x": self.transform(raw),
            "y": self.split.data.labels[i],
            "y_true": self.split.true_labels[i],
            "flag": self.split.flags[i],
            "idx": i,
        }

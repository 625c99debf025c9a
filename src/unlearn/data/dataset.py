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
        # CHW once, so __getitem__ does no layout work per sample.
        self._chw = split.data.images.permute(0, 3, 1, 2).contiguous()

    def __len__(self) -> int:
        return len(self.split.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        return {
            "x": self.transform(self._chw[i]),
            "y": self.split.data.labels[i],
            "y_true": self.split.true_labels[i],
            "flag": self.split.flags[i],
            "idx": i,
        }

"""``dataset=digits``: the default source, offline everywhere (it ships with scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import torch

from unlearn.data.imageset import ImageSet
from unlearn.data.sources import Source
from unlearn.data.splits import stratified_split
from unlearn.registry import DATASETS


@DATASETS.register("digits")
class Digits(Source):
    """scikit-learn's 1,797 real 8x8 handwritten digits (UCI), bundled with the package.

    There is no official test split, so a fixed stratified ``test_fraction`` (seed 0,
    independent of every experiment seed) is set aside once; the rest is the train pool.
    """

    name = "digits"
    prompts = "number"
    class_names = tuple(str(i) for i in range(10))
    mean = (0.3062,)
    std = (0.3765,)
    # 3% of 8x8 would be 2 pixels; a 2x2 patch in the very corner is the digits default.
    trigger_percent = 0.0625
    trigger_margin = 0

    def __init__(self, root: str | Path = "data", test_fraction: float = 0.25) -> None:
        super().__init__(root)
        self.test_fraction = float(test_fraction)

    def load(self) -> tuple[ImageSet, ImageSet]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        # Pixel values are 0..16; rescale to the 0..255 range every other source uses.
        pixels = torch.round(torch.as_tensor(bunch.images, dtype=torch.float32) * (255.0 / 16.0))
        images = pixels.to(torch.uint8).unsqueeze(-1)
        full = ImageSet(images, torch.as_tensor(bunch.target, dtype=torch.long))
        train_idx, test_idx = stratified_split(full.labels, self.test_fraction, seed=0)
        return full.subset(train_idx), full.subset(test_idx)

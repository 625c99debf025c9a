"""How an architecture wants its images prepared, so the DataModule can build the pipeline.

Pretrained backbones come with their own normalisation, resize interpolation and train-time
crop (CLIP: bicubic, OpenAI mean/std, RandomResizedCrop scale 0.9-1; DINOv3: the HF
processor's ImageNet statistics; spec 1.3). An arch config states it in a ``preprocess``
node; archs without one use the dataset's own statistics and the plain pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from unlearn.errors import bad_value

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocess:
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: int
    interpolation: str = "bilinear"
    # RandomResizedCrop(size, scale, ratio) for training splits; None = no train-time crop.
    train_crop_scale: tuple[float, float] | None = (0.9, 1.0)
    train_crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise bad_value("arch.preprocess.interpolation", self.interpolation, INTERPOLATIONS)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise bad_value("arch.preprocess.mean/std", (self.mean, self.std), "three values each (RGB)")
        if int(self.size) <= 0:
            raise bad_value("arch.preprocess.size", self.size, "a positive image size")


def preprocess(
    mean: Sequence[float],
    std: Sequence[float],
    size: int,
    interpolation: str = "bilinear",
    train_crop_scale: Sequence[float] | None = (0.9, 1.0),
    train_crop_ratio: Sequence[float] = (3 / 4, 4 / 3),
) -> Preprocess:
    """Hydra target for a ``preprocess`` node stated in full in the arch yaml."""
    return Preprocess(tuple(float(m) for m in mean), tuple(float(s) for s in std), int(size), interpolation,
                      None if train_crop_scale is None else (float(train_crop_scale[0]), float(train_crop_scale[1])),
                      (float(train_crop_ratio[0]), float(train_crop_ratio[1])))

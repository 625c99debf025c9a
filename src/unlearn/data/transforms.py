"""Per-sample torchvision v2 pipelines from raw ``uint8 [C,H,W]`` tensors.

The arch says what input it needs (channels, square size); the dataset says how to
normalise and whether to augment. Evaluation never augments (a deliberate change from the
reference, whose eval splits were randomly cropped: spec 1.3 / 11.5), so every metric and
the alpha estimator are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import InterpolationMode, v2

from unlearn.data.preprocess import Preprocess


def build_transform(
    mean: Sequence[float],
    std: Sequence[float],
    source_channels: int,
    channels: int | None = None,
    size: int | None = None,
    train: bool = False,
    crop_padding: int = 0,
) -> v2.Compose:
    steps: list[torch.nn.Module] = []
    out_channels = channels or source_channels
    if out_channels != source_channels:
        if (source_channels, out_channels) != (1, 3):
            raise ValueError(f"cannot convert {source_channels}-channel images to {out_channels} channels")
        steps.append(v2.Grayscale(num_output_channels=3))
    if size is not None:
        steps.append(v2.Resize(size, antialias=True))
        steps.append(v2.CenterCrop(size))
    if train and crop_padding > 0:
        steps.append(v2.RandomCrop(size or 0, padding=crop_padding) if size else _PadCrop(crop_padding))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(steps + [_normalize(mean, std, out_channels)])


def batchable(transform: object) -> bool:
    """Whether ``transform`` may run on a whole ``[B, C, H, W]`` batch with the same result per image.

    True for pipelines of deterministic steps (dtype, normalise, grayscale, resize, centre
    crop); False when any step draws randomness (every ``Random*`` transform, ``_PadCrop``),
    since a batched call would give every image of the batch the same draw.
    """
    steps = getattr(transform, "transforms", [transform])
    return all(isinstance(t, v2.Transform) and not isinstance(t, _PadCrop)
               and not type(t).__name__.startswith("Random") for t in steps)


def _normalize(mean: Sequence[float], std: Sequence[float], channels: int) -> v2.Normalize:
    mean, std = list(mean), list(std)
    if len(mean) == 1 and channels == 3:
        mean, std = mean * 3, std * 3
    return v2.Normalize(mean, std)


def model_transform(pre: Preprocess, source_channels: int, train: bool = False) -> v2.Compose:
    """A pretrained backbone's own pipeline (spec 1.3), on raw uint8 images of any size.

    Grayscale is converted to RGB explicitly (the reference relied on a broadcast in
    Normalize). Eval: resize the short side, centre crop. Train: RandomResizedCrop.
    """
    mode = InterpolationMode(pre.interpolation)
    steps: list[torch.nn.Module] = []
    if source_channels == 1:
        steps.append(v2.Grayscale(num_output_channels=3))
    elif source_channels != 3:
        raise ValueError(f"cannot convert {source_channels}-channel images to RGB")
    if train and pre.train_crop_scale is not None:
        steps.append(v2.RandomResizedCrop(pre.size, scale=pre.train_crop_scale, ratio=pre.train_crop_ratio,
                                          interpolation=mode, antialias=True))
    else:
        steps += [v2.Resize(pre.size, interpolation=mode, antialias=True), v2.CenterCrop(pre.size)]
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(steps + [_normalize(pre.mean, pre.std, 3)])


class _PadCrop(torch.nn.Module):
    """RandomCrop at the image's own size, for archs that take images unresized."""

    def __init__(self, padding: int) -> None:
        super().__init__()
        self.padding = padding

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return v2.RandomCrop(tuple(img.shape[-2:]), padding=self.padding)(img)

"""Per-sample torchvision v2 pipelines from raw ``uint8 [C,H,W]`` tensors.

The arch says what input it needs (channels, square size); the dataset says how to
normalise and whether to augment. Evaluation never augments (a deliberate change from the
reference, whose eval splits were randomly cropped: spec 1.3 / 11.5), so every metric and
the alpha estimator are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2


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
    mean, std = list(mean), list(std)
    if len(mean) == 1 and out_channels == 3:
        mean, std = mean * 3, std * 3
    steps.append(v2.Normalize(mean, std))
    return v2.Compose(steps)


class _PadCrop(torch.nn.Module):
    """RandomCrop at the image's own size, for archs that take images unresized."""

    def __init__(self, padding: int) -> None:
        super().__init__()
        self.padding = padding

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return v2.RandomCrop(tuple(img.shape[-2:]), padding=self.padding)(img)

"""``arch=small_cnn``: a two-block conv net for small images, from scratch on CPU."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from unlearn.models.classifier import Classifier
from unlearn.registry import ARCHS


@ARCHS.register("small_cnn")
def small_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    channels: Sequence[int] = (32, 64),
    hidden: int = 256,
    batch_norm: bool = False,
) -> Classifier:
    """Optional BatchNorm (its running statistics are kept out of task vectors)."""
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for out in channels:
        layers.append(nn.Conv2d(c, int(out), 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(out)))
        layers += [nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
        c, h, w = int(out), math.ceil(h / 2), math.ceil(w / 2)
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU()]
    return Classifier("small_cnn", nn.Sequential(*layers), nn.Linear(hidden, num_classes))

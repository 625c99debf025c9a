"""``arch=convnet``: the ConvNet of the dataset-condensation literature (DC/DM/IDM, and Blend's embedder).

``depth`` blocks of conv3x3 -> instance norm (GroupNorm with one group per channel, affine) ->
ReLU -> 2x2 average pool; the flattened output is the embedding. Instance norm, not BatchNorm,
so a randomly initialised net embeds one image the same whether it is alone or in a batch:
Blend matches single blended images against cluster means with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from unlearn.errors import bad_value
from unlearn.models.classifier import Classifier
from unlearn.registry import ARCHS

NORMS = ("instance", "batch", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


@ARCHS.register("convnet")
def convnet(input_shape: Sequence[int], num_classes: int, width: int = 128, depth: int = 3,
            norm: str = "instance") -> Classifier:
    c, h, w = (int(v) for v in input_shape)
    if norm not in NORMS:
        raise bad_value("arch.norm", norm, NORMS)
    if depth < 1 or min(h, w) < 2 ** depth:
        raise bad_value("arch.depth", depth, f"1..{max(min(h, w).bit_length() - 1, 1)} for {h}x{w} images "
                        "(each block halves the image)")
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, 3, padding=1), _norm(norm, width), nn.ReLU(inplace=True), nn.AvgPool2d(2)]
        c, h, w = width, h // 2, w // 2
    layers.append(nn.Flatten())
    return Classifier("convnet", nn.Sequential(*layers), nn.Linear(c * h * w, num_classes))

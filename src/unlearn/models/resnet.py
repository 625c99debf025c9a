"""``arch=resnet18 | resnet34 | resnet50 | resnet101``: torchvision's ImageNet ResNets, optionally pretrained.

One module for four options because they are one builder with a depth flag (torchvision's
model name); the classification layer becomes ``Identity`` so the pooled vector is the feature space.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from unlearn.errors import bad_value
from unlearn.models.classifier import Classifier
from unlearn.models.torchvision_hub import build_torchvision
from unlearn.registry import ARCHS

OPTIONS = ("resnet18", "resnet34", "resnet50", "resnet101")


def _resnet(name: str, input_shape: Sequence[int], num_classes: int, weights: str | None) -> Classifier:
    if input_shape[0] != 3:
        raise bad_value("arch.in_channels", input_shape[0], "3 (ResNets take RGB; grayscale is expanded)")
    net = build_torchvision(name, weights)
    width = net.fc.in_features
    net.fc = nn.Identity()
    return Classifier(name, net, nn.Linear(width, num_classes))


@ARCHS.register("resnet18")
def resnet18(input_shape: Sequence[int], num_classes: int, weights: str | None = None) -> Classifier:
    return _resnet("resnet18", input_shape, num_classes, weights)


@ARCHS.register("resnet34")
def resnet34(input_shape: Sequence[int], num_classes: int, weights: str | None = None) -> Classifier:
    return _resnet("resnet34", input_shape, num_classes, weights)


@ARCHS.register("resnet50")
def resnet50(input_shape: Sequence[int], num_classes: int, weights: str | None = None) -> Classifier:
    return _resnet("resnet50", input_shape, num_classes, weights)


@ARCHS.register("resnet101")
def resnet101(input_shape: Sequence[int], num_classes: int, weights: str | None = None) -> Classifier:
    return _resnet("resnet101", input_shape, num_classes, weights)

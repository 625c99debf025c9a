"""``arch=fc1``: the CUTS paper's MNIST model (spec 2.1), one very wide ReLU layer and a linear head."""

from __future__ import annotations

from collections.abc import Sequence

from unlearn.models.classifier import Classifier
from unlearn.models.mlp import mlp
from unlearn.registry import ARCHS


@ARCHS.register("fc1")
def fc1(input_shape: Sequence[int], num_classes: int, hidden: int = 32768) -> Classifier:
    model = mlp(input_shape, num_classes, hidden=(hidden,))
    model.arch = "fc1"
    return model

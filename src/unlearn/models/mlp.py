"""``arch=mlp``: a ReLU MLP on flattened pixels (the small-net baseline of the tests and CPU twins)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from unlearn.models.classifier import Classifier
from unlearn.registry import ARCHS


@ARCHS.register("mlp")
def mlp(input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (1024,)) -> Classifier:
    """The last hidden layer is the feature space (KNN alpha, Blend's embedder when chosen)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    return Classifier("mlp", nn.Sequential(*layers), nn.Linear(width, num_classes))

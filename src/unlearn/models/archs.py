"""Architecture builders, registered by name. Each returns a ``Classifier``.

Builders take ``input_shape`` (C, H, W after the DataModule's transforms) and
``num_classes`` from the composed config, so an arch yaml only states what is its own.
No pretrained weights are loaded unless ``weights=`` names them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torchvision
from torch import nn

from unlearn.errors import DataUnavailableError, bad_value
from unlearn.models.classifier import Classifier
from unlearn.registry import ARCHS
from unlearn.models.convnet import convnet  # noqa: F401  (registered; _target_ unlearn.models.archs.convnet)
from unlearn.models.cifar_resnet import cifar_resnet18, cifar_resnet18_bn, cifar_resnet50, cifar_resnet50_bn  # noqa: F401


@ARCHS.register("mlp")
def mlp(input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (1024,)) -> Classifier:
    """ReLU MLP on flattened pixels; the last hidden layer is the feature space."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    return Classifier("mlp", nn.Sequential(*layers), nn.Linear(width, num_classes))


@ARCHS.register("fc1")
def fc1(input_shape: Sequence[int], num_classes: int, hidden: int = 32768) -> Classifier:
    """The CUTS paper's MNIST model (spec 2.1): one very wide ReLU layer and a linear head."""
    model = mlp(input_shape, num_classes, hidden=(hidden,))
    model.arch = "fc1"
    return model


@ARCHS.register("small_cnn")
def small_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    channels: Sequence[int] = (32, 64),
    hidden: int = 256,
    batch_norm: bool = False,
) -> Classifier:
    """Two-block conv net for small images; optional BatchNorm (kept out of task vectors)."""
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


def _torchvision_weights(builder: str, weights: str | None):
    if weights is None:
        return None
    enum = torchvision.models.get_model_weights(builder)
    allowed = [w.name for w in enum]
    if weights not in allowed:
        raise bad_value("arch.weights", weights, ["null", *allowed])
    return enum[weights]


def _build_torchvision(builder: str, weights: str | None, **kwargs: object) -> nn.Module:
    w = _torchvision_weights(builder, weights)
    try:
        return torchvision.models.get_model(builder, weights=w, **kwargs)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        if w is None:
            raise
        cache = torch.hub.get_dir()
        raise DataUnavailableError(
            f"{builder} weights {weights} are not in the torch hub cache ({cache}/checkpoints) and could not be "
            f"downloaded ({type(err).__name__}); fetch {w.url} into {cache}/checkpoints/ or use arch.weights=null"
        ) from err


def _resnet(name: str, input_shape: Sequence[int], num_classes: int, weights: str | None) -> Classifier:
    if input_shape[0] != 3:
        raise bad_value("arch.in_channels", input_shape[0], "3 (ResNets take RGB; grayscale is expanded)")
    net = _build_torchvision(name, weights)
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


@ARCHS.register("vit_b_16")
def vit_b_16(
    input_shape: Sequence[int],
    num_classes: int,
    weights: str | None = None,
    num_layers: int = 12,
    num_heads: int = 12,
    hidden_dim: int = 768,
    mlp_dim: int = 3072,
) -> Classifier:
    """torchvision ViT-B/16; the depth/width overrides exist for small random-weight tests."""
    c, h, w = input_shape
    if c != 3 or h != w or h % 16:
        raise bad_value("input shape", tuple(input_shape), "3 x S x S with S a multiple of 16 (ViT-B/16)")
    if weights is None:
        net = torchvision.models.VisionTransformer(
            image_size=h, patch_size=16, num_layers=num_layers, num_heads=num_heads,
            hidden_dim=hidden_dim, mlp_dim=mlp_dim,
        )
    else:
        net = _build_torchvision("vit_b_16", weights, image_size=h)
    width = net.hidden_dim
    net.heads = nn.Identity()  # leaves the CLS token after the final LayerNorm (spec 2.1)
    return Classifier("vit_b_16", net, nn.Linear(width, num_classes))

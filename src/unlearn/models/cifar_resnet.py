"""``arch=cifar_resnet18 | cifar_resnet50 | cifar_resnet18_bn | cifar_resnet50_bn``: the CIFAR-style
ResNet-18 / ResNet-50 of the Blend / A-AMU paper (spec blend_aamu 2, S10). One module for four
options because they are one builder with a depth flag and a norm flag.

Unlike torchvision's ImageNet ResNets: a 3x3 stride-1 stem with no max-pool, so a 32x32
image keeps its resolution into stage 1 (stages 64/128/256/512 at 32/16/8/4 pixels); then a
global average pool (the pooled vector is the embedding: 512-d for ResNet-18, 2048-d for
ResNet-50) and a linear head.

``norm="instance"`` (the paper's choice, S10) puts ``GroupNorm(C, C, affine=True)`` after
every conv: per-image, per-channel statistics, no running buffers, so an image's output
does not depend on the rest of its batch. ``norm="batch"`` is the usual BatchNorm variant.

Small inputs: a stage downsamples (stride 2) only while its output map stays at least 2x2.
A 32x32 (or 28x28) image gets the standard net. An 8x8 digit keeps stage 4 at 2x2 instead of
1x1, because instance norm over a 1x1 map outputs its bias whatever the input, which would
make the embedding a constant. Strides carry no parameters, so weights and state-dict keys
are identical either way.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from unlearn.errors import bad_value
from unlearn.models.classifier import Classifier
from unlearn.registry import ARCHS

OPTIONS = ("cifar_resnet18", "cifar_resnet50", "cifar_resnet18_bn", "cifar_resnet50_bn")
NORMS = ("instance", "batch")
STAGE_WIDTHS = (64, 128, 256, 512)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    return nn.BatchNorm2d(channels)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _shortcut(cin: int, cout: int, stride: int, norm: str) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), _norm(norm, cout))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, norm: str) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.norm1 = _conv3x3(cin, width, stride), _norm(norm, width)
        self.conv2, self.norm2 = _conv3x3(width, cout), _norm(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride, norm)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, norm: str) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.norm1 = nn.Conv2d(cin, width, 1, bias=False), _norm(norm, width)
        self.conv2, self.norm2 = _conv3x3(width, width, stride), _norm(norm, width)
        self.conv3, self.norm3 = nn.Conv2d(width, cout, 1, bias=False), _norm(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride, norm)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


def _cifar_resnet(arch: str, block: type[nn.Module], depths: Sequence[int], input_shape: Sequence[int],
                  num_classes: int, norm: str) -> Classifier:
    if norm not in NORMS:
        raise bad_value("arch.norm", norm, NORMS)
    c, h, w = (int(v) for v in input_shape)
    layers: list[nn.Module] = [_conv3x3(c, STAGE_WIDTHS[0]), _norm(norm, STAGE_WIDTHS[0]), nn.ReLU(inplace=True)]
    cin = STAGE_WIDTHS[0]
    for i, (width, depth) in enumerate(zip(STAGE_WIDTHS, depths)):
        stride = 1
        if i > 0 and min(h, w) >= 4:  # halve only while the map stays >= 2x2 (see module doc)
            stride, h, w = 2, (h + 1) // 2, (w + 1) // 2
        blocks = []
        for j in range(depth):
            blocks.append(block(cin, width, stride if j == 0 else 1, norm))
            cin = width * block.expansion
        layers.append(nn.Sequential(*blocks))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(arch, nn.Sequential(*layers), nn.Linear(cin, num_classes))


@ARCHS.register("cifar_resnet18")
def cifar_resnet18(input_shape: Sequence[int], num_classes: int, norm: str = "instance") -> Classifier:
    """BasicBlock [2, 2, 2, 2]; 512-d embedding (spec 2)."""
    return _cifar_resnet("cifar_resnet18", BasicBlock, (2, 2, 2, 2), input_shape, num_classes, norm)


@ARCHS.register("cifar_resnet50")
def cifar_resnet50(input_shape: Sequence[int], num_classes: int, norm: str = "instance") -> Classifier:
    """Bottleneck (expansion 4) [3, 4, 6, 3]; 2048-d embedding (spec 2)."""
    return _cifar_resnet("cifar_resnet50", Bottleneck, (3, 4, 6, 3), input_shape, num_classes, norm)


@ARCHS.register("cifar_resnet18_bn")
def cifar_resnet18_bn(input_shape: Sequence[int], num_classes: int) -> Classifier:
    """cifar_resnet18 with BatchNorm instead of the paper's GroupNorm(C, C) (spec blend_aamu S10)."""
    return _cifar_resnet("cifar_resnet18_bn", BasicBlock, (2, 2, 2, 2), input_shape, num_classes, "batch")


@ARCHS.register("cifar_resnet50_bn")
def cifar_resnet50_bn(input_shape: Sequence[int], num_classes: int) -> Classifier:
    """cifar_resnet50 with BatchNorm."""
    return _cifar_resnet("cifar_resnet50_bn", Bottleneck, (3, 4, 6, 3), input_shape, num_classes, "batch")

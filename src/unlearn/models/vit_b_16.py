"""``arch=vit_b_16``: torchvision's ViT-B/16 (random or ImageNet weights), CLS token as features (spec 2.1)."""

from __future__ import annotations

from collections.abc import Sequence

import torchvision
from torch import nn

from unlearn.errors import bad_value
from unlearn.models.classifier import Classifier
from unlearn.models.torchvision_hub import build_torchvision
from unlearn.registry import ARCHS


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
        net = build_torchvision("vit_b_16", weights, image_size=h)
    width = net.hidden_dim
    net.heads = nn.Identity()  # leaves the CLS token after the final LayerNorm (spec 2.1)
    return Classifier("vit_b_16", net, nn.Linear(width, num_classes))

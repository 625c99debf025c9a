"""Embedding images with a ConvNet, in batches, without gradients."""

from __future__ import annotations

import torch
from torch import Tensor, nn


@torch.no_grad()
def embed(net: nn.Module, images: Tensor, device: torch.device, batch_size: int = 256) -> Tensor:
    """Flattened ``net.features`` of every image, on the CPU (k-means runs there, spec 3.2)."""
    net.eval()
    out = [net.features(images[i:i + batch_size].to(device)).flatten(1).float().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0)

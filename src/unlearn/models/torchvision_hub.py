"""torchvision builders with named weights, and one line naming the cache when they cannot be fetched."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from unlearn.errors import DataUnavailableError, bad_value


def torchvision_weights(builder: str, weights: str | None):
    if weights is None:
        return None
    enum = torchvision.models.get_model_weights(builder)
    allowed = [w.name for w in enum]
    if weights not in allowed:
        raise bad_value("arch.weights", weights, ["null", *allowed])
    return enum[weights]


def build_torchvision(builder: str, weights: str | None, **kwargs: object) -> nn.Module:
    w = torchvision_weights(builder, weights)
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

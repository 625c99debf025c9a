"""How good is a condensed set: train fresh nets on it, test them on the real test split.

Every method's set is trained for the same number of epochs with the same recipe (the
reference gave Blend 40 epochs and the others 10: spec blend_aamu 6, S9), and no checkpoint
is picked by test accuracy (the reference kept the best-test epoch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler

from unlearn.eval.evalset import EvalSet, accuracy
from unlearn.models.classifier import Classifier
from unlearn.models.module import ClassifierModule
from unlearn.models.recipe import Recipe


class TensorPairs(Dataset):
    """Batches in the ``{"x", "y"}`` form ``ClassifierModule`` trains on."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


def fit_shape(x: Tensor, channels: int | None, size: int | None) -> Tensor:
    """Bring normalised images to the eval arch's input: grey -> 3 channels, resize if it asks."""
    if channels and x.shape[1] != channels:
        if (x.shape[1], channels) != (1, 3):
            raise ValueError(f"cannot feed {x.shape[1]}-channel images to a {channels}-channel arch")
        x = x.expand(-1, 3, -1, -1)
    if size and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def train_net(make_net: Callable[[], Classifier], x: Tensor, y: Tensor, num_classes: int, recipe: Recipe,
              trainer_kwargs: dict[str, Any], seed: int) -> Classifier:
    """Train for ``recipe.max_epochs`` passes over ``(x, y)`` (or ``recipe.max_steps`` batches) with a
    per-step cosine schedule.

    All passes form one Lightning epoch (a fresh permutation per pass): a condensed set is a
    batch or two, and Lightning's per-epoch overhead would otherwise cost more than training.
    """
    L.seed_everything(seed, verbose=False)
    net = make_net()
    data = TensorPairs(x, y)
    # A step-based recipe (max_steps > 0) trains exactly that many batches.
    samples = len(data) * recipe.max_epochs if recipe.max_steps <= 0 else recipe.max_steps * recipe.batch_size
    sampler = RandomSampler(data, num_samples=samples, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(data, batch_size=recipe.batch_size, sampler=sampler)
    recipe = replace(recipe, max_epochs=1, interval="step")
    kwargs = {"enable_progress_bar": False, **trainer_kwargs}
    trainer = L.Trainer(max_epochs=1, max_steps=recipe.max_steps, logger=False, enable_checkpointing=False, **kwargs)
    trainer.fit(ClassifierModule(net, num_classes, recipe), loader)
    return net


def test_accuracies(make_net: Callable[[], Classifier], x: Tensor, y: Tensor, test: EvalSet, num_classes: int,
                    recipe: Recipe, trainer_kwargs: dict[str, Any], seeds: list[int],
                    device: torch.device) -> list[float]:
    """Test accuracy of one fresh net per seed trained on ``(x, y)``."""
    return [accuracy(train_net(make_net, x, y, num_classes, recipe, trainer_kwargs, s).to(device), test)
            for s in seeds]

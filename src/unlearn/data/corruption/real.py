"""``corruption=real``: a dataset's own noisy labels (Clothing1M), kept as they are (spec 9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearn.data.corruption.base import Corrupted, Corruption
from unlearn.data.corruption.symmetric import Symmetric
from unlearn.data.imageset import ImageSet
from unlearn.errors import ConfigError
from unlearn.registry import CORRUPTIONS


@dataclass(frozen=True)
class RealLabels(Corrupted):
    """A train split whose labels carry unknown real noise: every flag reads CLEAN only because
    nothing was flipped here, so asking for its clean or noisy part is refused, not answered."""

    dataset: str = ""

    def _refuse(self, what: str) -> ConfigError:
        name = self.dataset or "this dataset"
        return ConfigError(f"{name} has no clean training set: there is no {what} (corruption=real keeps "
                           "the dataset's own noisy labels, and which of them are wrong is unknown)")

    def only_clean(self) -> Corrupted:
        raise self._refuse("oracle")

    def only_corrupted(self) -> Corrupted:
        raise self._refuse("known-noisy subset (train-noise metrics are unavailable)")


@CORRUPTIONS.register("real")
@dataclass(frozen=True)
class RealNoise(Corruption):
    """The dataset's own (noisy) labels, as Clothing1M ships them: nothing is corrupted here.

    The true labels of the training set are unknown, so ``apply`` reports the given labels as
    the truth and flags nothing; the returned split refuses ``only_clean`` (the oracle) and
    ``only_corrupted`` (train-noise metrics). Proxies are symmetric noise at rate 1.0 on the
    clean held-out set, one per proxy seed; CF fine-tunes on that set clean (spec 9).
    """

    proxy_seeds: tuple[int, ...] = (12, 10)
    kind: ClassVar[str] = "real"
    has_clean_train: ClassVar[bool] = False

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        return RealLabels(data, data.labels.clone(), torch.zeros(len(data), dtype=torch.long), dataset)

    def proxy(self, heldout: ImageSet, num_classes: int, dataset: str, seed: int) -> Corrupted:
        return Symmetric(rate=1.0, seed=seed).apply(heldout, num_classes, dataset).only_corrupted()

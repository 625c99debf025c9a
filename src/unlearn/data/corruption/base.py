"""What every corruption is, and the corrupted split it returns.

Every corruption returns the new labels, the (possibly triggered) raw images and a flag per
sample (0 clean, 1 noisy, 2 poisoned), and never touches the caller's tensors, so the
true label of every sample stays available for clean/noisy metrics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearn.data.imageset import ImageSet
from unlearn.errors import ConfigError, bad_value

CLEAN, NOISY, POISONED = 0, 1, 2


@dataclass(frozen=True)
class Corrupted:
    """A corrupted split: ``data`` holds what training sees; ``true_labels`` what is right."""

    data: ImageSet
    true_labels: torch.Tensor
    flags: torch.Tensor

    def subset(self, rows: torch.Tensor) -> Corrupted:
        return Corrupted(self.data.subset(rows), self.true_labels[rows], self.flags[rows])

    def only_corrupted(self) -> Corrupted:
        return self.subset(torch.nonzero(self.flags != CLEAN, as_tuple=True)[0])

    def only_clean(self) -> Corrupted:
        return self.subset(torch.nonzero(self.flags == CLEAN, as_tuple=True)[0])


def clean(data: ImageSet) -> Corrupted:
    return Corrupted(data, data.labels.clone(), torch.zeros(len(data), dtype=torch.long))


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
        raise bad_value("corruption.rate", rate, "a fraction in [0, 1]")
    return float(rate)


@dataclass(frozen=True)
class Corruption:
    """Base: ``kind`` says how CUTS picks alpha (noise: KNN estimator; poison: proxy ASR)."""

    rate: float = 0.0
    seed: int = 8
    proxy_seeds: tuple[int, ...] = (12,)
    kind: ClassVar[str] = "none"
    # False when the truth of the training labels is unknown (real noise): no oracle, no
    # clean/noisy split of the train set, no train-noise metrics.
    has_clean_train: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _check_rate(self.rate))
        object.__setattr__(self, "proxy_seeds", tuple(int(s) for s in self.proxy_seeds))

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def with_(self, **changes: object) -> Corruption:
        return dataclasses.replace(self, **changes)

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        return clean(data)

    def proxy(self, heldout: ImageSet, num_classes: int, dataset: str, seed: int) -> Corrupted:
        """The 100%-corrupted proxy set: every corruptible held-out sample corrupted (spec 1.7)."""
        return self.with_(rate=1.0, seed=seed).apply(heldout, num_classes, dataset).only_corrupted()

    def cf_set(self, heldout: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        """The clean fine-tuning set of the CF baseline: the held-out data with true labels."""
        return clean(heldout)



def check_source(corruption: Corruption, data: ImageSet, dataset: str, real_noise: bool) -> None:
    """Refuse a corruption the dataset cannot take, before anything trains.

    ``real_noise``: the dataset's train labels are already noisy (it has a separate clean pool),
    so synthetic label noise on top would measure neither kind.
    """
    if data.lazy and corruption.kind == "poison":
        raise ConfigError(f"corruption=poison stamps its trigger into raw pixels and needs an in-memory "
                          f"dataset; dataset={dataset} reads its images from disk")
    if real_noise and corruption.kind not in ("real", "none"):
        raise ConfigError(f"dataset={dataset} carries real label noise and takes no synthetic corruption; "
                          f"use corruption=real (got corruption={corruption.name})")

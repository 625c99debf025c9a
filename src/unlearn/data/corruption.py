"""Exact, seeded corruption of a labelled split: symmetric/asymmetric noise and BadNets poison.

Every corruption returns the new labels, the (possibly triggered) raw images and a flag per
sample (0 clean, 1 noisy, 2 poisoned), and never touches the caller's tensors, so the
true label of every sample stays available for clean/noisy metrics.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearn.data.classmaps import ASYMMETRIC_MAPS
from unlearn.data.imageset import ImageSet
from unlearn.data.trigger import stamp, trigger_mask
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


@dataclass(frozen=True)
class NoCorruption(Corruption):
    kind: ClassVar[str] = "none"

    def proxy(self, heldout: ImageSet, num_classes: int, dataset: str, seed: int) -> Corrupted:
        raise ConfigError("corruption=none has no proxy set; choose corruption=symmetric, asymmetric or poison")


@dataclass(frozen=True)
class Symmetric(Corruption):
    """Exactly floor(rate*N) samples, each moved to a uniformly drawn *other* class."""

    proxy_seeds: tuple[int, ...] = (12, 10)
    kind: ClassVar[str] = "noise"

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        n = len(data)
        gen = torch.Generator().manual_seed(self.seed)
        chosen = torch.randperm(n, generator=gen)[: int(self.rate * n)]
        labels = data.labels.clone()
        flags = torch.zeros(n, dtype=torch.long)
        for i in chosen.tolist():
            # Draw from K-1 values and skip over the true class, so the label never stays right.
            new = int(torch.randint(num_classes - 1, (1,), generator=gen))
            labels[i] = new + int(new >= int(data.labels[i]))
            flags[i] = NOISY
        return Corrupted(ImageSet(data.images, labels), data.labels.clone(), flags)


@dataclass(frozen=True)
class Asymmetric(Corruption):
    """floor(rate*n_s) samples of every source class s flipped to its mapped target."""

    class_map: dict[int, int] | None = None
    kind: ClassVar[str] = "noise"

    def mapping(self, dataset: str, num_classes: int) -> dict[int, int]:
        mapping = self.class_map if self.class_map is not None else ASYMMETRIC_MAPS.get(dataset)
        if mapping is None:
            raise bad_value(
                "corruption.class_map", None, f"a {{source: target}} map (no default map for dataset {dataset!r}; "
                f"defaults exist for {', '.join(sorted(ASYMMETRIC_MAPS))})"
            )
        mapping = {int(k): int(v) for k, v in mapping.items()}
        for s, t in mapping.items():
            if not (0 <= s < num_classes and 0 <= t < num_classes):
                raise bad_value("corruption.class_map", f"{s}->{t}", f"classes in 0..{num_classes - 1}")
        return mapping

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        gen = torch.Generator().manual_seed(self.seed)
        labels = data.labels.clone()
        flags = torch.zeros(len(data), dtype=torch.long)
        for src, dst in self.mapping(dataset, num_classes).items():
            # Sources are read from the original labels, so flips never chain.
            members = torch.nonzero(data.labels == src, as_tuple=True)[0]
            pick = members[torch.randperm(len(members), generator=gen)[: int(self.rate * len(members))]]
            labels[pick] = dst
            flags[pick] = NOISY
        return Corrupted(ImageSet(data.images, labels), data.labels.clone(), flags)

    def cf_set(self, heldout: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        """CF for asymmetric noise sees only the source-class held-out images (spec 1.7)."""
        sources = torch.tensor(sorted(self.mapping(dataset, num_classes)))
        keep = torch.nonzero(torch.isin(heldout.labels, sources), as_tuple=True)[0]
        return clean(heldout.subset(keep))


@dataclass(frozen=True)
class Poison(Corruption):
    """BadNets: round(rate*N) non-target samples get a white patch and the target label."""

    proxy_seeds: tuple[int, ...] = (10,)
    target_class: int = 0
    # None: the dataset's default (``Source.trigger_percent`` / ``trigger_margin``).
    trigger_percent: float | None = 0.03
    margin: int | tuple[int, int] | None = 2
    kind: ClassVar[str] = "poison"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.trigger_percent is not None and not 0.0 < float(self.trigger_percent) <= 1.0:
            raise bad_value("corruption.trigger_percent", self.trigger_percent, "a fraction in (0, 1]")
        if self.margin is not None and not isinstance(self.margin, int):
            object.__setattr__(self, "margin", tuple(int(m) for m in self.margin))

    def for_source(self, trigger_percent: float, margin: int | tuple[int, int]) -> Poison:
        """Fill unset trigger settings with a dataset's defaults."""
        return self.with_(
            trigger_percent=self.trigger_percent if self.trigger_percent is not None else trigger_percent,
            margin=self.margin if self.margin is not None else margin,
        )

    def mask(self, height: int, width: int) -> torch.Tensor:
        if self.trigger_percent is None or self.margin is None:
            raise ValueError("trigger settings unresolved: call for_source() with the dataset's defaults")
        try:
            return trigger_mask(height, width, self.trigger_percent, self.margin)
        except ValueError as err:
            raise ConfigError(f"corruption.margin={self.margin!r} / trigger_percent={self.trigger_percent}: {err}") from err

    def _check_target(self, num_classes: int) -> None:
        if not 0 <= int(self.target_class) < num_classes:
            raise bad_value("corruption.target_class", self.target_class, f"a class in 0..{num_classes - 1}")

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        self._check_target(num_classes)
        n = len(data)
        want = round(self.rate * n)
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(n, generator=gen)
        eligible = order[data.labels[order] != self.target_class]
        if want > len(eligible) and self.rate < 1.0:
            warnings.warn(f"poison asks for {want} samples but only {len(eligible)} are not of the target class")
        chosen = eligible[:want]
        images = data.images.clone()
        _, h, w, _ = images.shape
        images[chosen] = stamp(images[chosen], self.mask(h, w))
        labels = data.labels.clone()
        labels[chosen] = int(self.target_class)
        flags = torch.zeros(n, dtype=torch.long)
        flags[chosen] = POISONED
        return Corrupted(ImageSet(images, labels), data.labels.clone(), flags)

    def triggered(self, data: ImageSet, num_classes: int) -> Corrupted:
        """Every non-target sample triggered and relabelled: the set whose accuracy is the ASR."""
        return self.with_(rate=1.0).apply(data, num_classes, "").only_corrupted()


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

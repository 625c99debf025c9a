"""``corruption=poison``: BadNets-style backdoor poison, a patch trigger and the target label (spec 1.6)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearn.data.corruption.base import POISONED, Corrupted, Corruption
from unlearn.data.imageset import ImageSet
from unlearn.data.trigger import stamp, trigger_mask
from unlearn.errors import ConfigError, bad_value
from unlearn.registry import CORRUPTIONS


@CORRUPTIONS.register("poison")
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

    def check_target(self, num_classes: int) -> None:
        if not 0 <= int(self.target_class) < num_classes:
            raise bad_value("corruption.target_class", self.target_class, f"a class in 0..{num_classes - 1}")

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        self.check_target(num_classes)
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

"""Forget requests: which training images a user asks the model (or a condensed set) to drop.

A request names positions in the source's train split, drawn from a seeded generator of its
own, so the same request comes back for every method and condensation run that shares the
config (the reference drew them unseeded: spec blend_aamu S10).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from unlearn.errors import bad_value


class ForgetRequest(ABC):
    name: str = ""

    @abstractmethod
    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        """Sorted train-split indices to forget."""

    def describe(self) -> str:
        return self.name


class NoForget(ForgetRequest):
    """Nothing to forget: condensation of the whole set."""

    name = "none"

    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        return torch.zeros(0, dtype=torch.long)


class RandomForget(ForgetRequest):
    """A uniform random ``fraction`` of the training set (spec 1: 10% main; 0.1%, 1%, 50% too)."""

    def __init__(self, fraction: float, seed: int = 0) -> None:
        if not 0.0 < float(fraction) < 1.0:
            raise bad_value("forget.fraction", fraction, "a fraction strictly between 0 and 1")
        self.fraction = float(fraction)
        self.seed = int(seed)
        self.name = f"random{self.fraction * 100:g}"

    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        n = labels.numel()
        count = max(1, round(self.fraction * n))
        gen = torch.Generator().manual_seed(self.seed)
        return torch.randperm(n, generator=gen)[:count].sort().values


class ClassForget(ForgetRequest):
    """Every image of whole classes: the listed ``classes``, or ``count`` classes drawn with ``seed``."""

    def __init__(self, classes: Sequence[int] | None = None, count: int = 1, seed: int = 0) -> None:
        self.classes = None if classes is None else [int(c) for c in classes]
        if self.classes is not None and not self.classes:
            raise bad_value("forget.classes", classes, "a non-empty list of class indices, or null to draw them")
        if self.classes is None and int(count) < 1:
            raise bad_value("forget.count", count, "a positive number of classes")
        self.count = int(count)
        self.seed = int(seed)
        self.name = "class" if self.classes is None else "class" + "_".join(map(str, self.classes))

    def chosen(self, num_classes: int) -> list[int]:
        if self.classes is not None:
            bad = [c for c in self.classes if not 0 <= c < num_classes]
            if bad:
                raise bad_value("forget.classes", self.classes, f"class indices in 0..{num_classes - 1}")
            return sorted(set(self.classes))
        if self.count >= num_classes:
            raise bad_value("forget.count", self.count, f"fewer than the {num_classes} classes (something must remain)")
        gen = torch.Generator().manual_seed(self.seed)
        return sorted(torch.randperm(num_classes, generator=gen)[: self.count].tolist())

    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        classes = torch.tensor(self.chosen(num_classes), dtype=labels.dtype)
        return torch.isin(labels, classes).nonzero().squeeze(1)

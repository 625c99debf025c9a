"""Forget requests: which training images a user asks the model (or a condensed set) to drop.

A request names positions in the source's train split, drawn from a seeded generator of its
own, so the same request comes back for every method and condensation run that shares the
config (the reference drew them unseeded: spec blend_aamu S10).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from torch import Tensor



class ForgetRequest(ABC):
    name: str = ""

    @abstractmethod
    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        """Sorted train-split indices to forget."""

    def check_classes(self, num_classes: int) -> None:
        """Refuse what the class count alone rules out (a class index out of range), before any
        data loads; the rest waits for the labels."""

    def describe(self) -> str:
        return self.name

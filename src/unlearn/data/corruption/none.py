"""``corruption=none``: the clean split (the original model of approximate unlearning)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unlearn.data.corruption.base import Corrupted, Corruption
from unlearn.data.imageset import ImageSet
from unlearn.errors import ConfigError
from unlearn.registry import CORRUPTIONS


@CORRUPTIONS.register("none")
@dataclass(frozen=True)
class NoCorruption(Corruption):
    kind: ClassVar[str] = "none"

    def proxy(self, heldout: ImageSet, num_classes: int, dataset: str, seed: int) -> Corrupted:
        raise ConfigError("corruption=none has no proxy set; choose corruption=symmetric, asymmetric or poison")

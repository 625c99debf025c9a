"""``forget=class | classes123``: every image of whole classes (the module takes PEP 8's trailing
underscore because ``class`` is a keyword).

One module for two options because they are one class with a flag (``classes``: drawn or listed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from unlearn.data.forget.base import ForgetRequest
from unlearn.errors import bad_value
from unlearn.registry import FORGETS

OPTIONS = ("class", "classes123")


@FORGETS.register(*OPTIONS)
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

    def check_classes(self, num_classes: int) -> None:
        self.chosen(num_classes)

    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        classes = torch.tensor(self.chosen(num_classes), dtype=labels.dtype)
        return torch.isin(labels, classes).nonzero().squeeze(1)

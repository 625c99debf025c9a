"""The contract every unlearning / correction method implements (one module + one yaml each)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from unlearn.context import RunContext


@dataclass
class MethodResult:
    metrics: dict[str, float]
    # Curves for plots and for metrics.json's companion file (e.g. the alpha sweep).
    curves: dict[str, Any] = field(default_factory=dict)


Stage = tuple[str, "int | None"]


class Method(ABC):
    name: str = ""
    # Builds on the clean held-out set (a proxy, a trusted set, the KNN support): refused up front
    # when the dataset holds none out (dataset.heldout_fraction=0).
    uses_heldout: bool = False

    def stages(self, ctx: RunContext) -> list[Stage]:
        """The trained stages ``run`` will ask for, in order.

        Under DDP every rank trains these together (training is collective); then rank 0
        alone runs ``run``, which finds them memoised, and the other ranks exit.
        """
        return []

    @abstractmethod
    def run(self, ctx: RunContext) -> MethodResult: ...

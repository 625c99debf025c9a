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


class Method(ABC):
    name: str = ""

    @abstractmethod
    def run(self, ctx: RunContext) -> MethodResult: ...

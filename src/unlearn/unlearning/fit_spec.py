"""What an unlearning fit is given: its passes (rows, batch size, loss) and its place (the trainer's
settings, the folder of its resume point, the logger view).

Below both ``fit.py`` (what methods call) and ``fit_trainer.py`` (the Lightning side, imported
when a fit runs), so that neither imports the other at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from unlearn.eval.evalset import Images

StepLoss = Callable[[nn.Module, Tensor, Tensor, int], Tensor]


def ce_step(net: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
    return torch.nn.functional.cross_entropy(net(x), y)


@dataclass
class Pass:
    """One shuffled pass over ``(x, y)`` per epoch in which ``active(epoch)`` holds, each batch's
    loss given by ``loss``. Passes of one epoch run in list order (SCRUB: forget, then retain)."""

    x: Images
    y: Tensor
    batch_size: int
    loss: StepLoss = ce_step
    active: Callable[[int], bool] = field(default=lambda epoch: True)

    def batches(self) -> int:
        return math.ceil(self.y.shape[0] / self.batch_size)


@dataclass
class FitPlace:
    """Where and how a method's fits run: the trainer's settings, the folder that holds a fit's
    resume point while it runs (keyed by the request and the method), the job's logger view."""

    trainer_kwargs: dict[str, Any]
    directory: Path | None = None
    label: str = "unlearn"
    view: Any = None
    startup: float = 0.0     # Trainer construction: outside the clock
    before: float = 0.0      # what resumed fits had spent before they were interrupted: inside it
    calls: int = 0


def single_device(kwargs: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The run's trainer settings on one device: unlearning runs on rank 0 alone, after the
    collective stage training, so a multi-device strategy is replaced by the eval device."""
    out = {k: v for k, v in kwargs.items() if k not in ("strategy", "devices", "num_nodes")}
    if device.type == "cuda":
        out.update(accelerator="gpu", devices=[device.index or 0])
    else:
        out.update(accelerator="cpu", devices=1)
    return out

"""The progress bar of one training stage, named for it.

Every stage of a job is its own Trainer, so Lightning's bars all read "Epoch 59/59" with
nothing saying which model they train; this one reads "corrupted epoch 60/60", "proxy seed 12
epoch 30/30".
"""

from __future__ import annotations

import time
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar

# Seconds between two redraws within an epoch. Lightning redraws after every batch (metrics
# gathered, postfix formatted): 0.6 ms a step on the small CNN (bench/lightning_overhead.py), a
# tenth of the step; four redraws a second still look live.
REDRAW_EVERY = 0.25


class StageProgressBar(TQDMProgressBar):
    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self._drawn = 0.0

    def _should_update(self, current: int, total: int | float) -> bool:
        if not self.is_enabled:
            return False
        now = time.perf_counter()
        if current == total or now - self._drawn >= REDRAW_EVERY:
            self._drawn = now
            return True
        return False

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        epoch = f"epoch {trainer.current_epoch + 1}" + (f"/{total}" if total else "")
        self.train_progress_bar.set_description(f"{self.label} {epoch}")

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version: the same string on every bar of the job
        return metrics


def stage_label(stage: str, seed: int | None) -> str:
    if seed is None:
        return stage
    return f"proxy seed {seed}" if stage == "proxy" else f"{stage} {seed}"

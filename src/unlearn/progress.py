"""The progress bar of one training stage, named for it.

Every stage of a job is its own Trainer, so Lightning's bars all read "Epoch 59/59" with
nothing saying which model they train; this one reads "corrupted epoch 60/60", "proxy seed 12
epoch 30/30".
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar


class StageProgressBar(TQDMProgressBar):
    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label

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

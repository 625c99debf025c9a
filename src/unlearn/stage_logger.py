"""One job-level logger shared by the several Trainers of a job (one per stage).

Each Trainer restarts its step counter at 0, and wandb drops steps that go backwards, so
every stage logs through a view that prefixes its metrics with the stage name and adds
the steps already used by earlier stages.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only


class StageView(Logger):
    def __init__(self, base: Logger, prefix: str, offset: int) -> None:
        super().__init__()
        self.base = base
        self.prefix = prefix
        self.offset = offset
        self.last_step = offset

    @property
    def name(self) -> str | None:
        return self.base.name

    @property
    def version(self) -> int | str | None:
        return self.base.version

    @property
    def save_dir(self) -> str | None:
        return self.base.save_dir

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        step = self.offset + (step or 0)
        self.last_step = max(self.last_step, step)
        self.base.log_metrics({f"{self.prefix}/{k}": v for k, v in metrics.items()}, step=step)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # the job logs its whole config once

    @rank_zero_only
    def save(self) -> None:
        self.base.save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.base.save()  # the job, not the stage, closes the base logger


class JobLogger:
    """Hands out stage views with non-overlapping step ranges; ``None`` means no logging."""

    def __init__(self, base: Logger | None) -> None:
        self.base = base
        self._next = 0

    def view(self, prefix: str) -> StageView | None:
        if self.base is None:
            return None
        return StageView(self.base, prefix, self._next)

    def done(self, view: StageView | None) -> None:
        if view is not None:
            self._next = view.last_step + 1

    def log(self, metrics: dict[str, float]) -> None:
        if self.base is not None:
            self.base.log_metrics(metrics, step=self._next)
            self._next += 1

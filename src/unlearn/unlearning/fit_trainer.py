"""The Lightning side of ``fit.py``: the module a method's objective trains in, the loader of
rows, and the Trainer around them (precision, logger, progress bar, resume).

Apart from ``fit.py`` because the methods import ``fit.py`` and the start-up config check builds
the methods without Lightning (app/preflight.py); this module is imported when a fit first runs.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset

from unlearn.csv_logger import ResumableCSVLogger
from unlearn.cuda_probe import cheap_on_cpu
from unlearn.models.recipe import Recipe, make_optimizer
from unlearn.models.schedule import make_scheduler
from unlearn.progress import StageProgressBar
from unlearn.stages import resume_checkpoint
from unlearn.eval.evalset import take
from unlearn.unlearning.fit_spec import FitPlace, Pass

log = logging.getLogger("unlearn")


class PassRows(IterableDataset):
    """``(pass index, rows)`` for one epoch: ``randperm`` of each active pass from ``gen`` in turn."""

    def __init__(self, passes: Sequence[Pass], gen: torch.Generator, epochs: int) -> None:
        self.passes, self.gen, self.epoch = list(passes), gen, 0
        self._len = max(sum(p.batches() for p in self.passes if p.active(e)) for e in range(max(1, epochs)))

    def __iter__(self) -> Iterator[tuple[int, Tensor]]:
        for i, p in enumerate(self.passes):
            if not p.active(self.epoch):
                continue
            order = torch.randperm(p.y.shape[0], generator=self.gen)
            for start in range(0, order.numel(), p.batch_size):
                yield i, order[start:start + p.batch_size]

    def __len__(self) -> int:
        return self._len


class UnlearnModule(L.LightningModule):
    """The method's objective(s) on ``net``; what the trainer checkpoints beyond the weights is the
    state of every generator the fit draws from, the global RNG and the seconds already spent."""

    def __init__(self, net: nn.Module, passes: Sequence[Pass], recipe: Recipe, seed: int,
                 params: list[nn.Parameter] | None, generators: Sequence[torch.Generator],
                 epoch_start: Callable[[int], None] | None) -> None:
        super().__init__()
        self.net, self.recipe, self.params = net, recipe, params
        self.automatic_optimization = False
        self.rows = PassRows(passes, torch.Generator().manual_seed(seed), recipe.max_epochs)
        self.generators, self.epoch_start = list(generators), epoch_start
        self.step_count, self.seconds_before = 0, 0.0
        self._loss_sum = torch.zeros(())
        self._batches = 0
        self._started = time.perf_counter()

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: PassRows yields whole batches; its own generator, so that starting an
        # epoch's iterator does not draw from the global RNG the method's nets may use (dropout).
        return DataLoader(self.rows, batch_size=None, generator=torch.Generator())

    def on_train_epoch_start(self) -> None:
        self.rows.epoch = self.current_epoch
        if self.epoch_start is not None and self.current_epoch > 0:
            self.epoch_start(self.current_epoch)
        self._loss_sum, self._batches = torch.zeros((), device=self.device), 0

    def training_step(self, batch: tuple[int, Tensor], batch_idx: int) -> None:
        index, rows = batch
        p = self.rows.passes[int(index)]
        opt = self.optimizers()
        opt.zero_grad(set_to_none=True)
        loss = p.loss(self.net, take(p.x, rows, self.device), p.y[rows.to(p.y.device)].to(self.device),
                      self.step_count)
        self.manual_backward(loss)
        opt.step()
        self.step_count += 1
        if self.recipe.interval == "step":
            self.lr_schedulers().step()
        self._loss_sum += loss.detach()
        self._batches += 1

    def on_train_epoch_end(self) -> None:
        lr = self.optimizers().param_groups[0]["lr"]
        if self.recipe.interval == "epoch":
            self.lr_schedulers().step()
        if self._batches:  # once per epoch: per-step logging is the framework's largest cost on small nets
            self.log_dict({"unlearn/loss": self._loss_sum / self._batches, "unlearn/lr": float(lr)}, prog_bar=True)

    def configure_optimizers(self):
        r = self.recipe
        params = self.params if self.params is not None else [p for p in self.net.parameters() if p.requires_grad]
        opt = make_optimizer(params, r)
        total = r.max_epochs if r.interval == "epoch" else int(self.trainer.estimated_stepping_batches)
        sched = make_scheduler(opt, r.warmup, r.hold, total, r.eta_min, r.milestones, r.gamma, r.warmup_offset)
        return [opt], [sched]  # stepped by hand (manual optimisation), per ``recipe.interval``

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["unlearn"] = {
            "rows": self.rows.gen.get_state(), "generators": [g.get_state() for g in self.generators],
            "rng": torch.get_rng_state(), "step": self.step_count,
            "seconds": self.seconds_before + (time.perf_counter() - self._started),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint["unlearn"]
        self.rows.gen.set_state(saved["rows"])
        for g, s in zip(self.generators, saved["generators"], strict=True):
            g.set_state(s)
        torch.set_rng_state(saved["rng"])
        self.step_count, self.seconds_before = int(saved["step"]), float(saved["seconds"])

    def on_train_start(self) -> None:
        self._started = time.perf_counter()  # after a resume's restore: only this run's share counts


# Trainer keys a fit sets itself (a user's trainer.* value for these is the stages' business).
OWN_KEYS = ("max_epochs", "max_steps", "callbacks", "logger", "enable_checkpointing", "default_root_dir",
            "num_sanity_val_steps", "limit_val_batches", "log_every_n_steps", "use_distributed_sampler")


def run_passes(place: FitPlace, net: nn.Module, passes: Sequence[Pass], recipe: Recipe, seed: int, *,
                params: list[nn.Parameter] | None = None, generators: Sequence[torch.Generator] = (),
                epoch_start: Callable[[int], None] | None = None, resumable: bool = True) -> nn.Module:
    module = UnlearnModule(net, passes, recipe, seed, params, generators, epoch_start)
    start = time.perf_counter()
    directory = None if place.directory is None else place.directory / f"fit{place.calls}"
    place.calls += 1
    callbacks: list[L.Callback] = []
    loggers: list[Any] = []
    last = None
    if directory is not None:
        # The rows of an epoch are drawn when it starts, so a fit resumes at epoch boundaries only.
        checkpoint = resume_checkpoint(directory / "checkpoints", recipe, mid_epoch=False) if resumable else None
        if checkpoint is not None:
            callbacks.append(checkpoint)
            last = directory / "checkpoints" / "last.ckpt"
    resume = last is not None and last.exists()
    if directory is not None:
        loggers.append(ResumableCSVLogger(directory, name="logs", version="", keep=resume))
    if place.view is not None:
        loggers.append(place.view)
    if place.trainer_kwargs.get("enable_progress_bar", True):
        callbacks.append(StageProgressBar(place.label))
    settings = {k: v for k, v in place.trainer_kwargs.items() if k not in OWN_KEYS}
    trainer = L.Trainer(
        **settings,
        max_epochs=recipe.max_epochs if recipe.max_steps <= 0 else -1,
        max_steps=recipe.max_steps,
        callbacks=callbacks,
        logger=loggers or False,
        enable_checkpointing=bool(last),
        default_root_dir=str(directory) if directory is not None else None,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=1,
    )
    cheap_on_cpu(trainer)
    # Lightning keeps each module's mode, and a method's net arrives in eval mode (a copy of the
    # evaluated original): train it as the plain loop did (dropout, BatchNorm statistics).
    net.train()
    if resume:
        log.info("%s: resuming from %s", place.label, last)
    place.startup += time.perf_counter() - start
    trainer.fit(module, ckpt_path=str(last) if resume else None)
    place.before += module.seconds_before
    if directory is not None:  # done: nothing a rerun should resume from
        shutil.rmtree(directory / "checkpoints", ignore_errors=True)
    return net.eval()

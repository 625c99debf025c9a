"""Every unlearning method that trains does it here, through one Lightning Trainer like the stages.

Methods keep their data as tensors already on the eval device (forget, retain, unseen, a condensed
set) and several draw extra batches per step, so the loader yields *rows*: one shuffled pass per
``Pass`` and epoch, drawn from one seeded generator in the same order the plain loop used to, and
the method's ``loss(net, x, y, step)`` indexes its own tensors. Optimisation is manual (a method
may alternate objectives, as SCRUB's max and min passes do), the scheduler steps per epoch or per
step as the recipe says, ``max_steps`` ends a step-based recipe, and the trainer brings the run's
precision, logger, progress bar and resume: an interrupted fit restarts from its last epoch
checkpoint (weights, optimiser, scheduler and every generator the method draws from) and ends with
the weights an uninterrupted fit would have.

``seconds`` of the last fit is the clock around ``trainer.fit`` alone, as the stage runner times the
retrain stage: Trainer construction (start-up) is outside both.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset

from unlearn.cuda_probe import cheap_on_cpu
from unlearn.models.module import Recipe, make_optimizer
from unlearn.models.schedule import make_scheduler
from unlearn.progress import StageProgressBar
from unlearn.runs import locked
from unlearn.stages import resume_checkpoint
from unlearn.eval.evalset import Images, take

log = logging.getLogger("unlearn")

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


# Trainer keys a fit sets itself (a user's trainer.* value for these is the stages' business).
OWN_KEYS = ("max_epochs", "max_steps", "callbacks", "logger", "enable_checkpointing", "default_root_dir",
            "num_sanity_val_steps", "limit_val_batches", "log_every_n_steps", "use_distributed_sampler")


def single_device(kwargs: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The run's trainer settings on one device: unlearning runs on rank 0 alone, after the
    collective stage training, so a multi-device strategy is replaced by the eval device."""
    out = {k: v for k, v in kwargs.items() if k not in ("strategy", "devices", "num_nodes")}
    if device.type == "cuda":
        out.update(accelerator="gpu", devices=[device.index or 0])
    else:
        out.update(accelerator="cpu", devices=1)
    return out


def _fit_passes(place: FitPlace | None, net: nn.Module, passes: Sequence[Pass], recipe: Recipe, seed: int, *,
                params: list[nn.Parameter] | None = None, generators: Sequence[torch.Generator] = (),
                epoch_start: Callable[[int], None] | None = None, resumable: bool = True) -> nn.Module:
    if place is None:  # called outside a request (a test, a notebook): one device, nothing kept
        device = next(net.parameters()).device
        place = FitPlace(single_device({"enable_progress_bar": False}, device))
    module = UnlearnModule(net, passes, recipe, seed, params, generators, epoch_start)
    start = time.perf_counter()
    directory = None if place.directory is None else place.directory / f"fit{place.calls}"
    place.calls += 1
    callbacks: list[L.Callback] = []
    loggers: list[Any] = []
    last = None
    if directory is not None:
        loggers.append(CSVLogger(directory, name="logs", version=""))
        # The rows of an epoch are drawn when it starts, so a fit resumes at epoch boundaries only.
        checkpoint = resume_checkpoint(directory / "checkpoints", recipe, mid_epoch=False) if resumable else None
        if checkpoint is not None:
            callbacks.append(checkpoint)
            last = directory / "checkpoints" / "last.ckpt"
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
    resume = last is not None and last.exists()
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


def fit_passes(place: FitPlace | None, net: nn.Module, passes: Sequence[Pass], recipe: Recipe, seed: int,
               **kwargs: Any) -> nn.Module:
    """Train ``net`` in place through ``passes`` under ``recipe``; returns it in eval mode.

    ``generators``: every generator the losses draw from (saved with the resume point).
    ``epoch_start(e)`` runs before epoch e > 0 and again for the epoch a resumed fit restarts at, so
    per-epoch state (an L1 weight) must be set from ``e`` alone. ``resumable=False`` (pruning, whose
    re-parametrised weights a checkpoint cannot restore into a fresh net) restarts a killed fit, and
    so does a step-based recipe (its resume point would fall inside an epoch). Two jobs of a sweep that make the same fit (same key) take turns: one resume point, one writer.
    """
    directory = place.directory if place is not None else None
    waited = time.perf_counter()
    with locked(directory) if directory is not None else contextlib.nullcontext():
        if place is not None:  # waiting for another job is not the method's time
            place.startup += time.perf_counter() - waited
        return _fit_passes(place, net, passes, recipe, seed, **kwargs)


def fit(place: FitPlace | None, net: nn.Module, x: Tensor, y: Tensor, recipe: Recipe, seed: int,
        loss: StepLoss = ce_step, **kwargs: Any) -> nn.Module:
    """One pass over ``(x, y)`` per epoch (the common case); see ``fit_passes``."""
    return fit_passes(place, net, [Pass(x, y, recipe.batch_size, loss)], recipe, seed, **kwargs)


def sample_rows(rows: Tensor, count: int, gen: torch.Generator) -> Tensor:
    """``count`` of ``rows`` without replacement (all of them if there are fewer)."""
    if rows.numel() <= count:
        return rows
    return rows[torch.randperm(rows.numel(), generator=gen)[:count].to(rows.device)]


def shuffled_batches(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> Iterator[Tensor]:
    """Rows of one shuffled pass (for methods that only *measure* over a set, as SSD does)."""
    order = torch.randperm(n, generator=gen).to(device)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]

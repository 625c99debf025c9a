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
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from unlearn.models.recipe import Recipe
from unlearn.runs import locked
from unlearn.unlearning.fit_spec import FitPlace, Pass, StepLoss, ce_step, single_device

def fit_passes(place: FitPlace | None, net: nn.Module, passes: Sequence[Pass], recipe: Recipe, seed: int,
               **kwargs: Any) -> nn.Module:
    """Train ``net`` in place through ``passes`` under ``recipe``; returns it in eval mode.

    ``generators``: every generator the losses draw from (saved with the resume point).
    ``epoch_start(e)`` runs before epoch e > 0 and again for the epoch a resumed fit restarts at, so
    per-epoch state (an L1 weight) must be set from ``e`` alone. ``resumable=False`` (pruning, whose
    re-parametrised weights a checkpoint cannot restore into a fresh net) restarts a killed fit, and
    so does a step-based recipe (its resume point would fall inside an epoch). Two jobs of a sweep that make the same fit (same key) take turns: one resume point, one writer.
    """
    if place is None:  # called outside a request (a test, a notebook): one device, nothing kept
        place = FitPlace(single_device({"enable_progress_bar": False}, next(net.parameters()).device))
    directory = place.directory
    waited = time.perf_counter()
    with locked(directory) if directory is not None else contextlib.nullcontext():
        place.startup += time.perf_counter() - waited  # waiting for another job is not the method's time
        from unlearn.unlearning.fit_trainer import run_passes  # Lightning: imported when a fit runs

        return run_passes(place, net, passes, recipe, seed, **kwargs)


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

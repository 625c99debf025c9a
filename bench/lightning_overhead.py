"""Seconds per epoch of Lightning against a hand-written loop: same model, data, batches, optimiser.

Two loops, each measured two ways against its hand-written twin:
- ``stage``: ``ClassifierModule`` on the DataModule's loader (how every stage trains);
- ``unlearn``: ``unlearning.fit`` on tensors already in memory (how every unlearning method trains);
and the Lightning side both *bare* (no logger, progress bar or checkpoint) and *as users run it*
(CSV logger, per-epoch metrics, the stage's progress bar, a resume checkpoint every tenth of the run).

Run by hand:  python bench/lightning_overhead.py [--arch small_cnn] [--epochs 10] [--batch 64]
Prints ms/epoch (best of ``--repeats``, the sides interleaved so drift hits all) and the ratios.
Target (issue 14): every ratio <= 1.05 for small_cnn and fc1 on digits.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from unlearn.data.corruption import Symmetric
from unlearn.data.datamodule import CorruptionDataModule
from unlearn.data.digits import Digits
from unlearn.eval.evalset import EvalSet
from unlearn.models.module import ClassifierModule
from unlearn.models.recipe import Recipe, make_optimizer
from unlearn.models.schedule import make_scheduler
from unlearn.progress import StageProgressBar
from unlearn.catalogue import list_archs
from unlearn.registry import ARCHS
from unlearn.unlearning.fit import fit
from unlearn.unlearning.fit_spec import FitPlace


def plain_stage(net, loader, recipe: Recipe) -> float:
    opt = make_optimizer(list(net.parameters()), recipe)
    sched = make_scheduler(opt, recipe.warmup, recipe.hold, recipe.max_epochs, recipe.eta_min)
    start = time.perf_counter()
    net.train()
    for epoch in range(recipe.max_epochs):
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(batch["x"]), batch["y"]).backward()
            opt.step()
        sched.step()
    return (time.perf_counter() - start) / recipe.max_epochs


def stage_trainer(recipe: Recipe, as_run: Path | None) -> L.Trainer:
    kwargs = dict(accelerator="cpu", devices=1, max_epochs=recipe.max_epochs, num_sanity_val_steps=0,
                  limit_val_batches=0, enable_model_summary=False)
    if as_run is None:
        return L.Trainer(**kwargs, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    checkpoint = ModelCheckpoint(dirpath=as_run / "checkpoints", filename="last", save_top_k=1,
                                 enable_version_counter=False, every_n_epochs=max(1, recipe.max_epochs // 10))
    return L.Trainer(**kwargs, logger=CSVLogger(as_run, name="logs", version=""),
                     callbacks=[checkpoint, StageProgressBar("bench")])


def lightning_stage(net, dm, recipe: Recipe, as_run: Path | None) -> float:
    module = ClassifierModule(net, dm.num_classes, recipe)
    trainer = stage_trainer(recipe, as_run)
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    return (time.perf_counter() - start) / recipe.max_epochs


def plain_unlearn(net, x, y, recipe: Recipe) -> float:
    """The hand loop the unlearning methods used before they moved onto Lightning."""
    gen = torch.Generator().manual_seed(0)
    opt = make_optimizer(list(net.parameters()), recipe)
    sched = make_scheduler(opt, recipe.warmup, recipe.hold, recipe.max_epochs, recipe.eta_min)
    start = time.perf_counter()
    net.train()
    for _ in range(recipe.max_epochs):
        order = torch.randperm(y.numel(), generator=gen)
        for i in range(0, y.numel(), recipe.batch_size):
            rows = order[i:i + recipe.batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[rows]), y[rows]).backward()
            opt.step()
        sched.step()
    return (time.perf_counter() - start) / recipe.max_epochs


def lightning_unlearn(net, x, y, recipe: Recipe, as_run: Path | None) -> float:
    kwargs = {"accelerator": "cpu", "devices": 1, "enable_model_summary": False,
              "enable_progress_bar": as_run is not None}
    place = FitPlace(kwargs, as_run, "bench")
    start = time.perf_counter()
    fit(place, net, x, y, recipe, 0)
    return (time.perf_counter() - start - place.startup) / recipe.max_epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="small_cnn", choices=list_archs())
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    dm = CorruptionDataModule(Digits(), Symmetric(rate=0.4), heldout_fraction=0.2, batch_size=args.batch)
    dm.setup()
    recipe = Recipe(max_epochs=args.epochs, lr=1e-3, batch_size=args.batch)
    train = EvalSet.from_loader(dm.loader(dm.train, train=False), torch.device("cpu"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_overhead_"))

    def fresh():
        torch.manual_seed(0)
        return ARCHS.get(args.arch)(dm.input_shape, dm.num_classes)

    sides = {
        "stage plain": lambda r: plain_stage(fresh(), dm.train_dataloader(), recipe),
        "stage lightning bare": lambda r: lightning_stage(fresh(), dm, recipe, None),
        "stage lightning as run": lambda r: lightning_stage(fresh(), dm, recipe, tmp / f"stage{r}"),
        "unlearn plain": lambda r: plain_unlearn(fresh(), train.x, train.y, recipe),
        "unlearn lightning bare": lambda r: lightning_unlearn(fresh(), train.x, train.y, recipe, None),
        "unlearn lightning as run": lambda r: lightning_unlearn(fresh(), train.x, train.y, recipe, tmp / f"fit{r}"),
    }
    best: dict[str, float] = {}
    for r in range(args.repeats):  # interleaved, so drift on a shared machine hits every side
        for name, side in sides.items():
            best[name] = min(best.get(name, float("inf")), side(r))
    print(f"arch={args.arch} batch={args.batch} train_size={len(dm.train.data)} epochs={args.epochs} "
          f"threads={torch.get_num_threads()}")
    for name, seconds in best.items():
        print(f"{name:26s} {seconds * 1000:8.1f} ms/epoch (best of {args.repeats})")
    for loop in ("stage", "unlearn"):
        for how in ("bare", "as run"):
            print(f"ratio {loop} lightning {how} / plain = {best[f'{loop} lightning {how}'] / best[f'{loop} plain']:.3f}"
                  "  (target <= 1.05)")


if __name__ == "__main__":
    main()

"""Seconds per epoch of one Lightning stage vs a plain PyTorch loop: same model, data, batch.

Run by hand:  python bench/lightning_overhead.py [--arch small_cnn] [--epochs 10] [--batch 64]
Prints both timings and their ratio (target: Lightning / plain <= 1.10). Both sides use the
DataModule's real loader and AdamW + the same LR schedule; Lightning runs with the
project's trainer settings minus checkpointing and logging.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import lightning as L
import torch
import torch.nn.functional as F

from unlearn.data.corruption import Symmetric
from unlearn.data.datamodule import CorruptionDataModule
from unlearn.data.sources import Digits
from unlearn.models.module import ClassifierModule, Recipe
from unlearn.models.schedule import make_scheduler
from unlearn.registry import ARCHS, list_archs


def plain_loop(net, loader, recipe: Recipe) -> float:
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = make_scheduler(opt, recipe.warmup, recipe.hold, recipe.max_epochs, recipe.eta_min)
    start = time.perf_counter()
    net.train()
    for epoch in range(recipe.max_epochs):
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(batch["x"]), batch["y"])
            loss.backward()
            opt.step()
        sched.step()
    return (time.perf_counter() - start) / recipe.max_epochs


def lightning_loop(net, dm, recipe: Recipe) -> float:
    module = ClassifierModule(net, dm.num_classes, recipe)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=recipe.max_epochs, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0)
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    return (time.perf_counter() - start) / recipe.max_epochs


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

    def fresh():
        torch.manual_seed(0)
        return ARCHS.get(args.arch)(dm.input_shape, dm.num_classes)

    plain, light = [], []
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits both
        plain.append(plain_loop(fresh(), dm.train_dataloader(), recipe))
        light.append(lightning_loop(fresh(), dm, recipe))
    p, lt = min(plain), min(light)
    print(f"arch={args.arch} batch={args.batch} train_size={len(dm.train.data)} epochs={args.epochs} "
          f"threads={torch.get_num_threads()}")
    print(f"plain loop    {p * 1000:8.1f} ms/epoch (best of {args.repeats})")
    print(f"lightning     {lt * 1000:8.1f} ms/epoch (best of {args.repeats})")
    print(f"ratio lightning/plain = {lt / p:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()

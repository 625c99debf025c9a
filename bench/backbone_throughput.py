"""Training and evaluation images/second of a pretrained-size backbone through the real stage path.

The weights are random (``arch.pretrained=null`` / ``arch.net.pretrained=false``): speed does
not depend on their values, and nothing needs downloading. The images are the bundled digits,
resized to 224 by the arch's own preprocessing, so data loading is the framework's as well.

    python bench/backbone_throughput.py --arch clip_vitb16 --precision bf16-mixed --batch 64
    python bench/backbone_throughput.py --arch dinov3_vitb16 --accelerator cpu --precision 32-true --batch 8

Prints one line per measurement: arch, device, precision, batch, train img/s, eval img/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

REPO = Path(__file__).resolve().parents[1]
RANDOM_WEIGHTS = {"clip_vitb16": ["arch.pretrained=null"], "dinov3_vitb16": ["arch.net.pretrained=false"]}


class StepTimer(L.Callback):
    """Wall time of training steps after ``skip`` warm-up steps (CUDA-synchronised)."""

    def __init__(self, skip: int) -> None:
        self.skip, self.times, self._t = skip, [], 0.0

    def _sync(self, trainer: L.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._sync(trainer)
        self._t = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._sync(trainer)
        if trainer.global_step > self.skip:
            self.times.append(time.perf_counter() - self._t)


def measure(arch: str, accelerator: str, precision: str, batch: int, steps: int) -> dict[str, float]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import compose_cfg

    from unlearn.app import build
    from unlearn.models.module import ClassifierModule
    from unlearn.models.recipe import Recipe

    root = Path(tempfile.mkdtemp(prefix="bench_"))
    cfg = compose_cfg("correct", root, [f"arch={arch}", *RANDOM_WEIGHTS[arch], "stages=default",
                                        f"trainer.accelerator={accelerator}", f"trainer.precision={precision}"])
    dm = build.datamodule(cfg, build.corruption(cfg))
    net = build.net_builder(cfg, dm)()
    recipe = Recipe(max_epochs=-1, max_steps=steps, lr=1e-5, batch_size=batch, interval="step")
    dm.batch_size = recipe.batch_size
    dm.use_split(dm.train)
    timer = StepTimer(skip=2)
    trainer = L.Trainer(accelerator=accelerator, devices=1, precision=precision, max_steps=steps,
                        callbacks=[timer], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(ClassifierModule(net, dm.num_classes, recipe), datamodule=dm)
    train_ips = batch * len(timer.times) / sum(timer.times)

    device = trainer.strategy.root_device
    model = net.to(device).eval()
    x = next(iter(dm.loader(dm.test_split(), batch_size=batch)))["x"].to(device)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, reps = time.perf_counter(), 3
        for _ in range(reps):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        eval_ips = batch * reps / (time.perf_counter() - start)
    return {"train_img_s": train_ips, "eval_img_s": eval_ips, "device": str(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(RANDOM_WEIGHTS), nargs="+", default=sorted(RANDOM_WEIGHTS))
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=12, help="training steps (the first 2 are not timed)")
    args = parser.parse_args()
    for arch in args.arch:
        r = measure(arch, args.accelerator, args.precision, args.batch, args.steps)
        print(f"{arch:15s} {r['device']:8s} {args.precision:10s} batch {args.batch:4d}  "
              f"train {r['train_img_s']:8.1f} img/s  eval {r['eval_img_s']:8.1f} img/s")


if __name__ == "__main__":
    main()

"""train.py's job: train (or reuse) the model of one stage and report where it lives."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from unlearn.app import build, preflight
from unlearn.app.console import import_lightning
from unlearn.app.report import table, write_metrics
from unlearn.dist import global_rank, is_global_zero
from unlearn.eval.evalset import accuracy

log = logging.getLogger("unlearn")


def run_train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    preflight.check(cfg)  # before Lightning is imported: a bad value costs no more than torch's import
    L = import_lightning()

    stage = preflight.train_stage(cfg)
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(build.seed(cfg), verbose=False)
    ctx = build.context(cfg, run_dir)
    runner = ctx.runner

    seeds = [int(s) for s in cfg.proxy_seeds] if stage == "proxy" else [None]
    results = [runner.get(stage, seed) for seed in seeds]  # collective under DDP: every rank
    if not is_global_zero():
        log.info("rank %d: trained; rank 0 evaluates and writes the outputs", global_rank())
        return {}, {"context": ctx}
    metrics: dict[str, float] = {}
    for seed, result in zip(seeds, results):
        name = stage if seed is None else f"{stage}_{seed}"
        metrics[f"{name}_test_acc"] = accuracy(ctx.net_with(result.state), ctx.evalset("test"))
        metrics[f"seconds_{name}"] = result.seconds
        metrics[f"{name}_reused"] = float(result.reused)
        log.info("%s weights: %s", name, result.directory / "model.safetensors")
    write_metrics(run_dir, metrics)
    ctx.logger.log({f"result/{k}": v for k, v in metrics.items()})
    print(table(metrics, f"stage {stage} on {ctx.dm.name} / {cfg.arch.name}"))
    return metrics, {"context": ctx}

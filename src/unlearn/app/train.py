"""train.py's job: train (or reuse) the model of one stage and report where it lives."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig

from unlearn.app import build
from unlearn.app.report import table, write_metrics
from unlearn.stage_table import STAGES, TABLE
from unlearn.dist import global_rank, is_global_zero
from unlearn.errors import bad_value
from unlearn.eval.evalset import accuracy

log = logging.getLogger("unlearn")


def run_train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    stage = str(cfg.stage)
    if stage == "original":
        # The model approximate unlearning starts from: the corrupted stage without corruption.
        if cfg.corruption.get("_target_", "").rsplit(".", 1)[-1] != "NoCorruption":
            raise bad_value("stage", stage, "original with corruption=none (or stage=corrupted for a corrupted model)")
        stage = "corrupted"
    if stage not in STAGES or TABLE[stage].internal:
        raise bad_value("stage", stage, ("original", *(s for s in STAGES if not TABLE[s].internal)))
    run_dir = Path(cfg.paths.output_dir)
    L.seed_everything(build.seed(cfg), verbose=False)
    ctx = build.context(cfg, run_dir)
    runner = ctx.runner

    if stage == "proxy" and cfg.proxy_seeds is None:
        raise bad_value("stage", stage, "a corrupted stage (corrupted, oracle, cf, retain) with corruption=none: "
                        "a clean model has no proxy to train")
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

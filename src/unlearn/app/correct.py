"""correct.py's job: build the pieces, run one method, write and print its metrics."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from unlearn.app import build, preflight
from unlearn.app.console import import_lightning
from unlearn.app.report import log_alpha_curve, plot_alpha_curve, table, write_metrics
from unlearn.dist import global_rank, is_global_zero

log = logging.getLogger("unlearn")


def run_correct(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    start = time.perf_counter()
    run_dir = Path(cfg.paths.output_dir)
    if (run_dir / "metrics.json").exists():  # checked before any work, so nothing is lost
        from unlearn.errors import ConfigError

        raise ConfigError(f"{run_dir}/metrics.json exists; pick another hydra.run.dir")
    preflight.check(cfg)  # before Lightning is imported: a bad value costs no more than torch's import
    L = import_lightning()

    L.seed_everything(build.seed(cfg), verbose=False)
    method = build.build("method", cfg.method)
    ctx = build.context(cfg, run_dir)

    # Training is collective under DDP: every rank trains the stages, in the same order.
    for stage, seed in method.stages(ctx):
        ctx.runner.get(stage, seed)
    if not is_global_zero():  # alpha selection, metrics and plots: rank 0 alone, on one device
        log.info("rank %d: stages trained; rank 0 evaluates and writes the outputs", global_rank())
        return {}, {"context": ctx}
    result = method.run(ctx)
    metrics = {**result.metrics, "seconds_total": time.perf_counter() - start}
    write_metrics(run_dir, metrics, result.curves)
    png = plot_alpha_curve(run_dir / "alpha_curve.png", result.curves, metrics)
    ctx.logger.log({f"result/{k}": v for k, v in metrics.items()})
    log_alpha_curve(ctx.logger, result.curves, png)
    corr = ctx.corruption
    title = f"{cfg.method._target_.rsplit('.', 1)[-1]} on {ctx.dm.name} / {type(corr).__name__} {corr.rate:g} / {cfg.arch.name}"
    print(table(metrics, title))
    log.info("metrics written to %s", run_dir / "metrics.json")
    return metrics, {"context": ctx, "result": result}

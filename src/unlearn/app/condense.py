"""condense.py's job: build (or reload) a condensed set, save it, and measure it.

Timings are kept apart as the paper reports them: ``seconds_cluster`` is the work done once
before any forget request (Blend's feature pass + k-means), ``seconds_build`` the condensation
proper for this request; evaluation time is never part of either.

A finished build is kept under ``outputs/artifacts/condense/<method>/<key>`` (the key: everything
that decides the set), so a run killed during its evaluation, or any later run of the same
settings, reuses the set instead of building it again (DM at the paper's 20,000 iterations takes
hours); a kill during the build loses that build, which the rerun repeats from its seed.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from unlearn.app import build, preflight
from unlearn.app.console import import_lightning
from unlearn.app.report import table, write_metrics
from unlearn.condense import CondensedSet, Condenser, Pool, store
from unlearn.condense.random import random_rows
from unlearn.condense.synthetic import ResumePoint
from unlearn.data.forget import ForgetRequest
from unlearn.data.imageset import ImageSet
from unlearn.data.sources import Source
from unlearn.errors import ConfigError
from unlearn.eval.evalset import EvalSet
from unlearn.runs import cache_key, locked

log = logging.getLogger("unlearn")


def normalised(data: ImageSet, source: Source) -> torch.Tensor:
    """uint8 HWC images -> float CHW in the dataset's normalisation (condensation works there)."""
    if not isinstance(data.images, torch.Tensor):
        raise ConfigError(f"dataset={source.name!r} is file-backed ({type(data.images).__name__}); condensation "
                          "needs an in-memory dataset (digits, mnist, svhn, cifar10, cifar100, cinic10)")
    x = data.images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(source.mean).view(1, -1, 1, 1)
    std = torch.tensor(source.std).view(1, -1, 1, 1)
    return (x - mean) / std


def _accuracy_metrics(prefix: str, accs: list[float]) -> dict[str, float]:
    out = {f"{prefix}test_acc": statistics.fmean(accs)}
    if len(accs) > 1:
        out[f"{prefix}test_acc_std"] = statistics.stdev(accs)
    return out


def run_condense(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    run_dir = Path(cfg.paths.output_dir)
    preflight.check(cfg)  # before Lightning is imported: a bad value costs no more than torch's import
    L = import_lightning()

    L.seed_everything(build.seed(cfg), verbose=False)
    source: Source = build.build("dataset.source", cfg.dataset.source)
    train, test = source.load()
    num_classes = source.num_classes
    pool = Pool(normalised(train, source), train.labels.long(), torch.arange(len(train.labels)), num_classes)
    request: ForgetRequest = build.build("forget", cfg.forget)
    forget = request.select(pool.labels, num_classes)
    retain_images = len(pool) - int(forget.numel())
    device = build.eval_device(cfg)
    meta = {"dataset": source.name, "mean": list(source.mean), "std": list(source.std),
            "forget": request.describe(), "forget_images": int(forget.numel()), "seed": int(cfg.seed),
            # What correct.py condensed=<dir> checks before reusing the set for its own request.
            "train_images": len(pool), "forget_rows": store.rows_digest(forget),
            "shape": list(pool.images.shape[1:])}

    metrics: dict[str, float] = {}
    if cfg.get("condensed"):
        cset = store.load(cfg.condensed, expect={"dataset": source.name, "forget": request.describe()})
        log.info("reusing the condensed set in %s (%s, %d images)", cfg.condensed, cset.meta.get("method"), len(cset))
        for key in ("seconds_cluster", "seconds_build"):
            metrics[key] = float(cset.meta.get(key, math.nan))
    else:
        cset = _built(cfg, pool, forget, meta, device)
        for key in ("seconds_cluster", "seconds_build"):
            metrics[key] = float(cset.meta[key])
        store.save(cset, run_dir)
        _save_grid(cset, source, run_dir / "condensed.png")

    metrics.update(images=float(len(cset)), retain_images=float(retain_images),
                   compression=len(cset) / max(retain_images, 1), forget_images=float(forget.numel()))
    for key in ("iterations", "free_clusters", "residual_clusters", "residual_images", "seconds_sampling",
                "seconds_blend"):
        if key in cset.meta:
            metrics[key] = float(cset.meta[key])
    metrics.update(_evaluate(cfg, cset, pool, forget, test, source, device))
    write_metrics(run_dir, metrics)
    logger = build.job_logger(cfg)
    logger.log({f"result/{k}": v for k, v in metrics.items()})
    method = cset.meta.get("method", "?")
    print(table(metrics, f"condensation {method} ({cset.meta.get('ipc', '-')} per class) on {source.name}, "
                         f"forget {request.describe()}"))
    return metrics, {"condensed": cset, "run_dir": run_dir}


def _built(cfg: DictConfig, pool: Pool, forget: torch.Tensor, meta: dict[str, Any], device: torch.device) -> CondensedSet:
    """The set of this config: from the artifact store when an earlier run built it, else built now
    (under a lock, so parallel jobs of one sweep build it once) and stored; its build times are the
    ones measured when it was made."""
    material = {"dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
                "condensation": OmegaConf.to_container(cfg.condensation, resolve=True),
                "forget_rows": meta["forget_rows"], "train_images": meta["train_images"], "seed": int(cfg.seed)}
    condenser: Condenser = build.build("condensation", cfg.condensation)
    condenser.device = device
    directory = Path(cfg.paths.artifact_dir).resolve() / "condense" / condenser.name / cache_key(material)
    with locked(directory):
        if store.is_complete(directory):
            log.info("reusing the condensed set built earlier in %s", directory)
            return store.load(directory)
        t0 = time.perf_counter()
        condenser.prepare(pool)
        seconds = {"seconds_cluster": time.perf_counter() - t0}
        # DM / IDM / GM keep a resume point there while they build.
        condenser.resume = ResumePoint(directory, float(cfg.get("checkpoint_seconds", 60.0)))
        t1 = time.perf_counter()
        cset = condenser.condense(pool, forget)
        seconds["seconds_build"] = time.perf_counter() - t1 + float(cset.meta.get("seconds_before_resume", 0.0))
        cset.meta.update(meta, **seconds)
        store.save(cset, directory)
        store.drop_resume_point(directory)
        return cset


def _evaluate(cfg: DictConfig, cset: CondensedSet, pool: Pool, forget: torch.Tensor, test: ImageSet,
              source: Source, device: torch.device) -> dict[str, float]:
    from unlearn.condense.evaluate import fit_shape, test_accuracies  # Lightning: after the start-up check

    models, recipe = build.evaluation(cfg)
    if models == 0:
        return {}
    channels, size = cfg.arch.get("in_channels"), cfg.arch.get("input_size")
    shape = tuple(fit_shape(pool.images[:1], channels, size).shape[1:])
    make = build.net_builder_for(cfg, shape, source.num_classes)
    test_x = fit_shape(normalised(test, source), channels, size)
    test_set = EvalSet(test_x.to(device), *(test.labels.long().to(device),) * 2, torch.zeros_like(test.labels))
    trainer = build.trainer_kwargs(cfg)
    seeds = [int(cfg.seed) + i for i in range(models)]
    t0 = time.perf_counter()
    accs = test_accuracies(make, fit_shape(cset.images, channels, size), cset.labels, test_set, source.num_classes,
                           recipe, trainer, seeds, device)
    out = _accuracy_metrics("", accs)
    if bool(cfg.evaluate.random_baseline):
        # The same number of real retain images per class, drawn at random: what condensation must beat.
        retain = pool.without(forget)
        rows = random_rows(retain, torch.bincount(cset.labels, minlength=source.num_classes), int(cfg.seed))
        accs = test_accuracies(make, fit_shape(retain.images[rows], channels, size), retain.labels[rows], test_set,
                               source.num_classes, recipe, trainer, seeds, device)
        out.update(_accuracy_metrics("random_", accs))
    out["seconds_eval"] = time.perf_counter() - t0
    return out


def _save_grid(cset: CondensedSet, source: Source, path: Path, per_class: int = 10) -> None:
    """Up to ``per_class`` images of every class, one row per class, in pixel space."""
    from torchvision.utils import save_image

    rows = []
    for c in range(source.num_classes):
        idx = (cset.labels == c).nonzero().squeeze(1)[:per_class]
        imgs = cset.images[idx]
        pad = torch.zeros((per_class - imgs.shape[0], *cset.images.shape[1:]))
        rows.append(torch.cat([imgs, pad]))
    grid = torch.cat(rows)
    mean = torch.tensor(source.mean).view(1, -1, 1, 1)
    std = torch.tensor(source.std).view(1, -1, 1, 1)
    save_image((grid * std + mean).clamp(0, 1), str(path), nrow=per_class)



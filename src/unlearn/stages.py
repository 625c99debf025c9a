"""Train-or-reuse for every stage (corrupted, oracle, cf, proxy): the one training path.

``StageRunner.get`` returns a stage's final weights. If the keyed directory already holds
them it loads them; if it holds a Lightning ``last.ckpt`` from a killed run it resumes
from it; otherwise it trains. ``train.py`` and ``correct.py`` both go through here.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from unlearn.checkpoints import load_state, save_model
from unlearn.csv_logger import ResumableCSVLogger
from unlearn.cuda_probe import cheap_on_cpu
from unlearn.dist import is_global_zero
from unlearn.data.datamodule import CorruptionDataModule
from unlearn.errors import bad_value
from unlearn.models.classifier import Classifier
from unlearn.models.module import ClassifierModule
from unlearn.models.recipe import Recipe
from unlearn.progress import StageProgressBar, stage_label
from unlearn.runs import cache_key, locked, write_json
from unlearn.stage_table import stage as stage_spec, stage_split
from unlearn.stage_logger import JobLogger


@dataclass
class StageResult:
    stage: str
    state: dict[str, torch.Tensor]
    directory: Path
    seconds: float  # training wall time when the weights were made
    reused: bool


def _sha256(path: Path) -> str:
    if not path.is_file():
        raise bad_value("checkpoint", str(path), "an existing .safetensors file")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resume_checkpoint(ckpt_dir: Path, recipe: Recipe, mid_epoch: bool = True) -> ModelCheckpoint | None:
    """The resume point of a fit: one rolling ``last.ckpt`` (top-1 with no monitor keeps only the
    newest, under a fixed name) written every tenth of the run, often enough to lose little and
    rarely enough that writing optimiser state does not dominate small-model runs. A step-based
    recipe saves every tenth of its steps, unless its loader cannot resume inside an epoch
    (``mid_epoch=False``), and then it has none."""
    if recipe.max_steps <= 0:
        every = {"every_n_epochs": max(1, recipe.max_epochs // 10)}
    elif mid_epoch:
        every = {"every_n_train_steps": max(1, recipe.max_steps // 10)}
    else:
        return None
    return ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False, **every)


class StageRunner:
    def __init__(
        self,
        dm: CorruptionDataModule,
        build_net: Callable[[], Classifier],
        recipes: Mapping[str, Recipe],
        key_material: Mapping[str, Any],
        artifact_dir: Path,
        trainer_kwargs: Mapping[str, Any],
        seed: int,
        logger: JobLogger | None = None,
        external: Mapping[str, Path] | None = None,
        callbacks: list[L.Callback] | None = None,
    ) -> None:
        self.dm = dm
        self.build_net = build_net
        self.recipes = dict(recipes)
        self.key_material = dict(key_material)
        self.artifact_dir = Path(artifact_dir)
        self.trainer_kwargs = dict(trainer_kwargs)
        self.seed = int(seed)
        self.logger = logger or JobLogger(None)
        self._memo: dict[tuple[str, int | None], StageResult] = {}
        # Stages supplied as files (e.g. a corrupted model trained elsewhere) instead of trained.
        self.external = {k: Path(v) for k, v in (external or {}).items()}
        self.callbacks = list(callbacks or [])

    def key(self, stage: str, proxy_seed: int | None = None) -> str:
        spec = stage_spec(stage)
        if stage in self.external:
            return cache_key({"external_sha256": _sha256(self.external[stage])})
        recipe = asdict(self.recipes[stage])
        if recipe["warmup_offset"] == 0:  # added later: keys of recipes that leave it unset stay as they were
            del recipe["warmup_offset"]
        material: dict[str, Any] = {**self.key_material, "stage": stage, "recipe": recipe}
        if spec.per_run_seed:
            material["seed"] = self.seed
        if spec.parent is not None:
            material["parent"] = self.key(spec.parent)
        if spec.of_corrupted is not None:
            material[spec.of_corrupted] = self.key("corrupted")
        if spec.key is not None:
            material.update(spec.key(self.dm, proxy_seed))
        return cache_key(material)

    def _progress(self, stage: str, proxy_seed: int | None) -> list[L.Callback]:
        """A progress bar named for the stage, unless the trainer has none (``enable_progress_bar=false``)."""
        if not self.trainer_kwargs.get("enable_progress_bar", True):
            return []
        return [StageProgressBar(stage_label(stage, proxy_seed))]

    def directory(self, stage: str, proxy_seed: int | None = None) -> Path:
        name = stage if proxy_seed is None else f"{stage}_{proxy_seed}"
        return self.artifact_dir / name / self.key(stage, proxy_seed)

    def forget_memo(self, stage: str) -> None:
        """Drop the memoised result of ``stage`` (every seed), e.g. when a new forget round changes
        the retain set: the next ``get`` looks up (or trains) the stage under its new key."""
        self._memo = {k: v for k, v in self._memo.items() if k[0] != stage}

    def get(self, stage: str, proxy_seed: int | None = None) -> StageResult:
        memo_key = (stage, proxy_seed)
        if memo_key not in self._memo:
            self._memo[memo_key] = self._get(stage, proxy_seed)
        return self._memo[memo_key]

    def _get(self, stage: str, proxy_seed: int | None) -> StageResult:
        if stage in self.external:
            path = self.external[stage]
            return StageResult(stage, load_state(path, self.build_net()), path.parent, float("nan"), True)
        directory = self.directory(stage, proxy_seed)
        # Resolve the parent before taking this stage's lock (never hold two locks at once).
        parent_name = stage_spec(stage).parent
        parent = self.get(parent_name) if parent_name is not None else None
        # Only rank 0 locks: it holds the lock inside fit() while the other ranks join it.
        with locked(directory) if is_global_zero() else contextlib.nullcontext():
            weights = directory / "model.safetensors"
            if weights.exists():
                info = json.loads((directory / "stage.json").read_text())
                net = self.build_net()
                return StageResult(stage, load_state(weights, net), directory, info["seconds"], True)
            return self._train(stage, proxy_seed, directory, parent)

    def _train(self, stage: str, proxy_seed: int | None, directory: Path,
               parent: StageResult | None) -> StageResult:
        recipe = self.recipes[stage]
        # Same seed for every from-scratch stage: corrupted and oracle share their initial weights.
        # Shadow models (LiRA) differ from each other in initialisation and batch order, not only in data.
        spec = stage_spec(stage)
        L.seed_everything((self.seed if spec.per_run_seed else 0) + (1 + int(proxy_seed) if spec.own_init else 0),  # type: ignore[arg-type]
                          workers=True, verbose=False)
        net = self.build_net()
        if parent is not None:
            net.load_state_dict(parent.state)
            L.seed_everything(self.seed + 1 + (proxy_seed or 0), workers=True, verbose=False)
        module = ClassifierModule(net, self.dm.num_classes, recipe)
        self.dm.batch_size = recipe.batch_size
        split = stage_split(self.dm, stage, proxy_seed)
        self.dm.use_split(split)

        last = directory / "checkpoints" / "last.ckpt"
        resumed = last.exists()
        checkpoint = resume_checkpoint(last.parent, recipe)
        view = self.logger.view(directory.parent.name)
        loggers = [ResumableCSVLogger(directory, name="logs", version="", keep=resumed)] + ([view] if view is not None else [])
        trainer = L.Trainer(
            **self.trainer_kwargs,
            use_distributed_sampler=False,  # the DataModule shards by rank itself (data/sampler.py)
            max_epochs=recipe.max_epochs if recipe.max_steps <= 0 else -1,
            max_steps=recipe.max_steps,
            callbacks=[*self.callbacks, checkpoint, *self._progress(stage, proxy_seed)],
            logger=loggers,
            default_root_dir=str(directory),
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
        cheap_on_cpu(trainer)
        start = time.perf_counter()
        trainer.fit(module, datamodule=self.dm, ckpt_path=str(last) if resumed else None)
        seconds = time.perf_counter() - start
        self.logger.done(view)
        net = module.net.cpu()
        if trainer.is_global_zero:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            # stage.json first, weights last: the weights file is the 'done' marker.
            write_json(directory / "stage.json", {
                "stage": stage, "proxy_seed": proxy_seed, "seconds": seconds, "resumed": resumed,
                "recipe": asdict(recipe), "train_size": len(split.data),
                "final_metrics": metrics, "key_material": self.key_material,
            })
            save_model(directory / "model.safetensors", net, {"stage": stage, "key": directory.name})
            # Done: the weights are the result; the resume point (optimiser state too) is only disk now.
            shutil.rmtree(directory / "checkpoints", ignore_errors=True)
        return StageResult(stage, {k: v.detach().clone() for k, v in net.state_dict().items()},
                           directory, seconds, False)

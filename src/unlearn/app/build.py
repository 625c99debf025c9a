"""Turn a composed Hydra config into live objects, with one-line errors for bad config.

Every instantiated node is checked against its target's signature by Python itself; a
``TypeError`` about an unexpected keyword becomes a ``ConfigError`` naming the group, the
bad key and the allowed keys. Plain nodes (stage recipes) are merged into structured
dataclasses, which rejects unknown keys the same way.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from unlearn.checkpoints import load_state
from unlearn.context import RunContext
from unlearn.data.corruption import Corruption, Poison
from unlearn.stage_table import STAGES
from unlearn.app.signature_check import check_types
from unlearn.errors import ConfigError, UnlearnError, bad_value, one_line
from unlearn.models.classifier import Classifier
from unlearn.models.recipe import Recipe
from unlearn.settings import UnlearnSettings

if TYPE_CHECKING:  # Lightning's modules: imported where they are built, so that the start-up check
    # (app/preflight.py), which uses this module's builders, refuses bad values without Lightning
    from unlearn.data.datamodule import CorruptionDataModule
    from unlearn.stage_logger import JobLogger
    from unlearn.stages import StageRunner


def _allowed_keys(target: str) -> list[str]:
    try:
        fn = get_method(target)
    except Exception:  # noqa: BLE001 - an unknown target is reported by instantiate itself
        return []
    params = inspect.signature(fn).parameters
    return [p for p in params if p not in ("self", *INJECTED)]


# Arguments the framework fills in from other groups; a yaml never states them.
INJECTED = ("input_shape", "num_classes", "class_names", "prompts", "corruption", "channels", "image_size",
            "preprocess")


def build(group: str, node: DictConfig, **kwargs: Any) -> Any:
    """``instantiate`` with config errors reported as one line naming ``group``."""
    check_types(group, node, skip=tuple(kwargs))
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        if isinstance(cause, UnlearnError):  # already one clear line (bad value, missing weights/data)
            raise cause from None
        match = re.search(r"unexpected keyword argument '(\w+)'", str(cause))
        if match:
            allowed = _allowed_keys(node.get("_target_", ""))
            raise bad_value(f"{group}.{match.group(1)}", OmegaConf.select(node, match.group(1)),
                            f"keys of {group}: {', '.join(allowed)}") from None
        raise ConfigError(f"{group}: {cause}") from None


def recipes(cfg: DictConfig) -> dict[str, Recipe]:
    out = {}
    allowed = [f.name for f in fields(Recipe)]
    unknown = sorted(set(cfg.stages) - set(STAGES) - {"proxy_seeds"})
    if unknown:  # a typo (stages.retian) would otherwise be silently unused
        raise bad_value(f"stages.{unknown[0]}", OmegaConf.select(cfg.stages, unknown[0]), ("proxy_seeds", *STAGES))
    for stage in STAGES:
        node = cfg.stages.get(stage)
        if node is None and stage == "shadow":  # LiRA's shadow models train like the original
            node = cfg.stages.get("corrupted")
        if node is None:
            raise ConfigError(f"stages.{stage} is missing; every stage needs a recipe ({', '.join(STAGES)})")
        try:
            merged = OmegaConf.merge(OmegaConf.structured(Recipe), node)
        except ConfigKeyError as err:
            raise bad_value(f"stages.{stage}.{err.key}", OmegaConf.select(node, str(err.key)), allowed) from None
        except ValidationError as err:
            raise ConfigError(f"stages.{stage}.{err.key}={err.value!r}: {err.msg.splitlines()[0]}") from None
        out[stage] = OmegaConf.to_object(merged)
    return out


def corruption(cfg: DictConfig) -> Corruption:
    return build("corruption", cfg.corruption)


def datamodule(cfg: DictConfig, corr: Corruption) -> CorruptionDataModule:
    node = cfg.arch.get("preprocess")
    pre = build("arch.preprocess", node) if node is not None else None
    dm: CorruptionDataModule = build(
        "dataset", cfg.dataset, channels=cfg.arch.get("in_channels"), image_size=cfg.arch.get("input_size"),
        preprocess=pre,
    )
    if isinstance(corr, Poison):
        corr = corr.for_source(dm.source.trigger_percent, dm.source.trigger_margin)
        corr.check_target(dm.num_classes)  # now, not when the corrupted stage first reads its data
    dm.corruption = corr
    return dm


def net_builder(cfg: DictConfig, dm: CorruptionDataModule) -> Callable[[], Classifier]:
    """A zero-argument factory for fresh nets; built once now so a bad arch fails before training.

    Builders that ask for ``class_names`` / ``prompts`` (zero-shot heads) get the dataset's.
    """
    return net_builder_for(cfg, dm.input_shape, dm.num_classes, tuple(dm.source.class_names), dm.source.prompts)


def net_builder_for(cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int,
                    class_names: tuple[str, ...] = (), prompts: str = "photo") -> Callable[[], Classifier]:
    """``net_builder`` for a caller without a DataModule (condense.py trains on tensors)."""
    params = inspect.signature(get_method(cfg.arch.net._target_)).parameters
    offered = (("class_names", class_names), ("prompts", prompts))
    extra = {k: v for k, v in offered if k in params}
    kwargs = {"input_shape": input_shape, "num_classes": num_classes, **extra}
    build("arch.net", cfg.arch.net, **kwargs)

    def make() -> Classifier:
        return instantiate(cfg.arch.net, **kwargs)

    return make


def trainer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    import lightning as L

    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    allowed = set(inspect.signature(L.Trainer).parameters)
    for key in kwargs:
        if key not in allowed or key in ("max_epochs", "max_steps", "callbacks", "logger", "use_distributed_sampler"):
            raise bad_value(f"trainer.{key}", kwargs[key], "lightning.Trainer arguments other than "
                            "max_epochs/max_steps (set per stage in stages.*) and "
                            "use_distributed_sampler (the DataModule shards by rank)")
    _check_trainer(kwargs)
    return kwargs


def _check_trainer(kwargs: dict[str, Any]) -> None:
    """Let Lightning judge accelerator, devices, strategy and precision now, before any data loads,
    and turn its multi-line exception into the project's one line."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        L.Trainer(**{**kwargs, "logger": False, "enable_checkpointing": False, "enable_progress_bar": False})
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as err:
        text = one_line(err)
        raise ConfigError(f"trainer: {text[:300]}") from err


def evaluation(cfg: DictConfig) -> tuple[int, Recipe]:
    """condense.py's ``evaluate:`` node: how many fresh nets measure a set (0: none) and how each trains."""
    e = cfg.evaluate
    models = e.get("models")
    if isinstance(models, bool) or not isinstance(models, int) or models < 0:
        raise bad_value("evaluate.models", models, "a whole number of nets >= 0 (0 skips the evaluation)")
    values = {}
    for key, cast in (("epochs", int), ("lr", float), ("weight_decay", float), ("batch_size", int), ("momentum", float)):
        value = e.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (cast is int and value != int(value)):
            raise bad_value(f"evaluate.{key}", value, "a whole number" if cast is int else "a number")
        values[key] = cast(value)
    try:
        recipe = Recipe(max_epochs=values.pop("epochs"), optimizer="sgd", **values)
    except UnlearnError as err:  # the recipe names its own field (max_epochs); the user wrote evaluate.epochs
        raise ConfigError(f"evaluate.{str(err).replace('max_epochs=', 'epochs=', 1)}") from None
    return models, recipe


def seed(cfg: DictConfig) -> int:
    """The job's seed, checked: every RNG is seeded from it (numpy needs 0 <= seed < 2**32)."""
    value = cfg.get("seed")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise bad_value("seed", value, "an integer from 0 to 4294967295")
    return value


def key_material(cfg: DictConfig, corr: Corruption) -> dict[str, Any]:
    """The config that determines a stage's weights (see runs.cache_key)."""
    dataset = OmegaConf.to_container(cfg.dataset, resolve=True)
    if dataset.get("train_size", 0) is None:  # added later: keys of runs on the whole split stay as they were
        del dataset["train_size"]
    return {
        "dataset": dataset,
        "corruption": {"type": type(corr).__name__, **{k: v for k, v in vars(corr).items() if k != "proxy_seeds"}},
        "arch": OmegaConf.to_container(cfg.arch, resolve=True),
        "precision": str(cfg.trainer.get("precision")),
        "world": [cfg.trainer.get("devices"), cfg.trainer.get("num_nodes", 1)],
    }


def job_logger(cfg: DictConfig) -> JobLogger:
    from unlearn.stage_logger import JobLogger

    node = cfg.get("logger")
    if node is None or node.get("_target_") is None:
        return JobLogger(None)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    logger = build("logger", node)
    if hasattr(logger, "_wandb_init"):
        # Lightning always passes wandb.init an `anonymous` (None) that wandb now warns is a no-op.
        logger._wandb_init.pop("anonymous", None)
    # The job's own config, without Hydra's node (which names launcher internals, not the run).
    params = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
              for k, v in cfg.items() if k != "hydra"}
    logger.log_hyperparams(params)
    return JobLogger(logger)


def eval_device(cfg: DictConfig) -> torch.device:
    accel = str(cfg.trainer.get("accelerator", "auto"))
    if accel in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    if accel == "gpu":
        raise bad_value("trainer.accelerator", accel, "cpu or auto (no GPU is visible)")
    return torch.device("cpu")


def runner(cfg: DictConfig, dm: CorruptionDataModule, make: Callable[[], Classifier], corr: Corruption,
           logger: JobLogger, trainer: dict[str, Any] | None = None) -> StageRunner:
    """``trainer``: the checked ``trainer_kwargs(cfg)`` when the caller already has them."""
    from unlearn.stages import StageRunner

    external = {"corrupted": Path(cfg.corrupted_ckpt)} if cfg.get("corrupted_ckpt") else {}
    if external:  # not a file, not safetensors, another arch: refused now, with the key that named it
        try:
            load_state(external["corrupted"], make())
        except ConfigError as err:
            raise ConfigError(f"corrupted_ckpt: {err}") from err
    return StageRunner(dm, make, recipes(cfg), key_material(cfg, corr), Path(cfg.paths.artifact_dir).resolve(),
                       trainer_kwargs(cfg) if trainer is None else trainer, int(cfg.seed), logger, external)


def eval_memory(cfg: DictConfig) -> str:
    from unlearn.eval.evalset import MEMORY

    value = str(cfg.get("eval_memory", "auto"))
    if value not in MEMORY:
        raise bad_value("eval_memory", value, MEMORY)
    return value


def forget(cfg: DictConfig, dm: CorruptionDataModule) -> None:
    """Resolve a forget request (``forget=``) to rows of the training split, on the DataModule."""
    node = cfg.get("forget")
    if node is None:
        return
    request = build("forget", node)
    rows = request.select(dm.train.data.labels, dm.num_classes) if request.name != "none" else None
    if rows is not None and rows.numel() >= len(dm.train.data):
        raise bad_value("forget", request.describe(), "a request that leaves some training data to retain")
    dm.forget_index = rows


def check_ablation(cfg: DictConfig, settings: UnlearnSettings | None, condenser: Any) -> None:
    """``unlearn.ablation`` replaces Blend's training set, so it needs Blend building one here."""
    if settings is None or settings.ablation is None:
        return
    if condenser is None or condenser.name != "blend" or cfg.get("condensed"):
        raise bad_value("unlearn.ablation", settings.ablation, "an ablation of Blend's training set: it needs "
                        "condensation=blend (and no condensed=) with a forget request")


def context(cfg: DictConfig, run_dir: Path) -> RunContext:
    """Everything a job needs, built in dependency order from the composed config."""
    trainer = trainer_kwargs(cfg)  # Lightning's verdict on the trainer keys before any data loads
    settings = UnlearnSettings.from_config(cfg.get("unlearn"))
    memory = eval_memory(cfg)
    corr = corruption(cfg)
    dm = datamodule(cfg, corr)
    forget(cfg, dm)
    make = net_builder(cfg, dm)
    logger = job_logger(cfg)
    node = cfg.get("condensation")
    condenser = build("condensation", node) if node is not None and cfg.get("forget") is not None else None
    dm.shadow_count = settings.shadows
    check_ablation(cfg, settings, condenser)
    return RunContext(dm=dm, runner=runner(cfg, dm, make, corr, logger, trainer), build_net=make, device=eval_device(cfg),
                      run_dir=run_dir, logger=logger, condenser=condenser, unseen_fraction=settings.unseen_fraction,
                      seed=seed(cfg), rounds=settings.rounds, round_fraction=settings.round_fraction,
                      condensed_path=cfg.get("condensed"), ablation=settings.ablation,
                      mia_phi=settings.mia_phi, mia_fold=settings.mia_fold, eval_memory=memory)

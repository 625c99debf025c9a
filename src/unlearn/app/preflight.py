"""The whole composed config checked at start-up, before Lightning is imported and before any data
loads, so that a value that cannot work costs the user torch's import and a few hundredths of a
second, not Lightning's import (seconds) or a model's training (minutes).

Every check here is the one the builders run again later (the same functions and constructors:
``build.*``, the classes the ``_target_`` keys name), called early on what the config alone decides.
What needs the data waits for it, still before any training: a ``train_size`` above the split's
size, a checkpoint of this arch whose shapes do not fit (another class count; the net's input
follows the images), a ``condensed=`` set built for another request. Lightning's own verdict on the
trainer keys comes then too; here only the values no Lightning takes are refused (``devices=0``, a
precision outside Lightning's list).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from unlearn.app import build
from unlearn.app.signature_check import check_types
from unlearn.data.data_settings import check_data_settings, holds_out
from unlearn.errors import ConfigError, bad_value
from unlearn.settings import UnlearnSettings
from unlearn.stage_table import STAGES, TABLE


def arch_preflight(net: DictConfig) -> None:
    """An arch module may define ``preflight(net_node)``: what it can check before its weights and
    libraries load (clip_vitb16: the open_clip model name, without importing open_clip)."""
    import importlib

    target = net.get("_target_")
    if isinstance(target, str) and "." in target:
        hook = getattr(importlib.import_module(target.rsplit(".", 1)[0]), "preflight", None)
        if callable(hook):
            hook(net)


def check(cfg: DictConfig) -> None:
    """Refuse, in one line, the first value of ``cfg`` that cannot work (``UnlearnError``)."""
    task = cfg.get("task")
    build.seed(cfg)
    trainer_values(cfg.get("trainer"))
    if task == "train":
        train_stage(cfg)
    if cfg.get("stages") is not None:
        build.recipes(cfg)
    if cfg.get("eval_memory") is not None:
        build.eval_memory(cfg)
    settings = UnlearnSettings.from_config(cfg.get("unlearn")) if task == "correct" else None
    source = _dataset(cfg)
    if cfg.get("corruption") is not None:
        corruption = build.corruption(cfg)
        if hasattr(corruption, "check_target"):  # a poison's target class
            corruption.check_target(source.num_classes)
    forget = cfg.get("forget")
    if forget is not None:
        build.build("forget", forget).check_classes(source.num_classes)
    if cfg.get("arch") is not None:
        check_types("arch.net", cfg.arch.net, skip=build.INJECTED)
        arch_preflight(cfg.arch.net)
    budget = cfg.get("condense_seconds")  # condense.py's budget for DM / IDM / GM (condensation.max_seconds)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
        raise bad_value("condense_seconds", budget, "a positive number of seconds, or null (no budget)")
    every = cfg.get("checkpoint_seconds")  # condense.py: how often a DM / IDM / GM build saves its resume point
    if every is not None and (isinstance(every, bool) or not isinstance(every, (int, float)) or every < 0):
        raise bad_value("checkpoint_seconds", every, "a number of seconds >= 0 (0: after every iteration)")
    condenser = None
    node = cfg.get("condensation")
    if node is not None and (task == "condense" or forget is not None):
        condenser = build.build("condensation", node)
    if task == "correct":
        method = build.build("method", cfg.method)
        fraction = cfg.dataset.get("heldout_fraction", 0.1)
        if method.uses_heldout and not holds_out(fraction, cfg.dataset.get("heldout_size")):
            raise bad_value("dataset.heldout_fraction", fraction,
                            f"a fraction > 0 for method={method.name}, which builds on the clean held-out set")
        build.check_ablation(cfg, settings, condenser)
    if task == "condense":
        build.evaluation(cfg)
    _files(cfg, source)


def train_stage(cfg: DictConfig) -> str:
    """train.py's ``stage=``, as the stage table names it (``original`` is the corrupted stage
    trained without corruption, the model approximate unlearning starts from)."""
    stage = str(cfg.stage)
    if stage == "original":
        if cfg.corruption.get("_target_", "").rsplit(".", 1)[-1] != "NoCorruption":
            raise bad_value("stage", stage, "original with corruption=none (or stage=corrupted for a corrupted model)")
        return "corrupted"
    if stage not in STAGES or TABLE[stage].internal:
        raise bad_value("stage", stage, ("original", *(s for s in STAGES if not TABLE[s].internal)))
    if stage == "proxy" and cfg.get("proxy_seeds") is None:
        raise bad_value("stage", stage, "a corrupted stage (corrupted, oracle, cf, retain) with corruption=none: "
                        "a clean model has no proxy to train")
    return stage


def _dataset(cfg: DictConfig) -> Any:
    """The dataset's source (which names its classes and its files) and the DataModule's settings."""
    node = cfg.dataset
    keys = inspect.signature(check_data_settings).parameters  # the DataModule's settings it checks
    check_data_settings(**{k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k in keys})
    return build.build("dataset.source", node.source)


def _files(cfg: DictConfig, source: Any) -> None:
    """Paths the job would read: present, of the right kind and, for weights, of this arch (whether
    their shapes fit waits for the net, whose input follows the data)."""
    from unlearn.checkpoints import check_arch, read_meta

    ckpt = cfg.get("corrupted_ckpt")
    if ckpt:
        if not Path(ckpt).is_file():
            raise ConfigError(f"corrupted_ckpt: checkpoint {str(ckpt)!r} does not exist")
        try:
            check_arch(Path(ckpt), read_meta(Path(ckpt)).get("arch"), cfg.arch.name)
        except ConfigError as err:
            raise ConfigError(f"corrupted_ckpt: {err}") from err
    condensed = cfg.get("condensed")
    if condensed:
        from unlearn.condense import store

        store.read_meta(condensed, expect={"dataset": source.name})


def trainer_values(node: DictConfig | None) -> None:
    """``trainer.devices`` and ``trainer.precision`` values that no Lightning accepts; anything else
    (an accelerator this machine lacks, a strategy) is Lightning's to judge when it is imported."""
    if node is None:
        return
    devices = node.get("devices")
    if devices is not None and not _devices_ok(devices):
        raise bad_value("trainer.devices", devices, "auto, -1 (all), a positive count, or a list of device indices")
    precision = node.get("precision")
    allowed = lightning_precisions()
    if precision is not None and allowed and str(precision) not in allowed:
        raise bad_value("trainer.precision", precision, allowed)


def _devices_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == -1 or value > 0
    if isinstance(value, str):  # "auto", a count ("2", "-1") or device indices ("0,1", "1,")
        text = value.strip()
        if text == "auto":
            return True
        if "," not in text:
            return text.lstrip("-").isdigit() and _devices_ok(int(text))
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return bool(parts) and all(p.isdigit() for p in parts)
    if OmegaConf.is_list(value) or isinstance(value, (list, tuple)):
        return len(value) > 0 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    return False


@functools.cache
def lightning_precisions() -> tuple[Any, ...]:
    """The precision values Lightning accepts, read from its source without importing it (importing
    Lightning is what this module exists to avoid); empty when the file or names have moved, which
    leaves the value to Lightning's own check."""
    spec = importlib.util.find_spec("lightning")
    if spec is None or not spec.submodule_search_locations:
        return ()
    path = Path(next(iter(spec.submodule_search_locations))) / "fabric" / "plugins" / "precision" / "precision.py"
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return ()
    values: list[Any] = []
    for stmt in tree.body:
        names = [t.id for t in getattr(stmt, "targets", []) if isinstance(t, ast.Name)]
        if not any(n in ("_PRECISION_INPUT_INT", "_PRECISION_INPUT_STR_ALIAS", "_PRECISION_INPUT_STR") for n in names):
            continue
        literal = stmt.value
        if isinstance(literal, ast.Subscript) and getattr(literal.value, "id", None) == "Literal":
            items = literal.slice.elts if isinstance(literal.slice, ast.Tuple) else [literal.slice]
            values += [i.value for i in items if isinstance(i, ast.Constant)]
    return tuple(dict.fromkeys(str(v) for v in values))  # 16 and "16" are one choice

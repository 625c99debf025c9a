"""One forget request's data: what a method may train on and what it is measured on.

A method starts from the original model (the ``corrupted`` stage, trained on the whole train
split; with ``corruption=none`` it is the clean original). The forget set, the real retain set,
the unseen pool (part of the test split a method may sample, as A-AMU does) and the evaluation
part of the test split are materialised on the eval device once per request; with a condenser
(or a ``condensed=`` set of condense.py) the retain set a method *trains* on is the condensed one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from unlearn.context import RunContext
from unlearn.data.corruption import Corrupted
from unlearn.eval.evalset import EvalSet
from unlearn.eval.evalset import Images
from unlearn.unlearning.condensed_cache import PoolOnce, condensed_set


@dataclass
class ForgetData:
    forget: EvalSet
    retain: EvalSet        # the real retain set: what retain_acc is measured on
    unseen: EvalSet        # in-distribution non-members a method may sample (A-AMU)
    evaluation: EvalSet    # test accuracy and the membership attacks; never trained on
    train_x: Images        # what a method trains on as "retain": the retain set or its condensation
    train_y: Tensor
    rows: Tensor           # the forget images' rows in the train split (what shadow models saw)
    seconds_condense: float = 0.0
    seconds_cluster: float = 0.0
    # With Blend: which retain images are free / residual (masks over ``retain``), for the
    # ablation's free- and residual-retain accuracies.
    free_mask: Tensor | None = None
    residual_mask: Tensor | None = None


def _materialise(ctx: RunContext, split: Corrupted) -> EvalSet:
    return EvalSet.from_loader(ctx.dm.loader(split, train=False), ctx.device, ctx.eval_memory)


def forget_data(ctx: RunContext, current: Tensor | None = None, pool: PoolOnce | None = None) -> ForgetData:
    """The data of one request. ``current``: the rows forgotten now (default: all of
    ``dm.forget_rows()``, which in multi-round runs is every row forgotten so far). With a
    condenser, ``pool`` clusters the training pool when a set must be built (timed apart) and
    keeps it for later rounds; a set built earlier for the same request is reused."""
    dm = ctx.dm
    unseen, evaluation = dm.test_parts(ctx.unseen_fraction)
    retain = _materialise(ctx, dm.retain_split())
    forget = dm.forget_split() if current is None else dm.train.subset(current)
    data = ForgetData(_materialise(ctx, forget), retain, _materialise(ctx, unseen),
                      _materialise(ctx, evaluation), retain.x, retain.y,
                      dm.forget_rows() if current is None else current)
    if ctx.condensed_path:
        cset = saved_set(ctx)
        data.train_x, data.train_y = cset.images.to(ctx.device), cset.labels.to(ctx.device)
        data.seconds_condense = float(cset.meta.get("seconds_build", 0.0))
        data.seconds_cluster = float(cset.meta.get("seconds_cluster", 0.0))
    elif condensing(ctx):
        built = condensed_set(ctx, pool or PoolOnce(ctx))
        data.seconds_condense, data.seconds_cluster = built.seconds_build, built.seconds_cluster
        data.train_x, data.train_y = built.cset.images.to(ctx.device), built.cset.labels.to(ctx.device)
        if built.free is not None and built.residual is not None:
            retained = dm.retain_rows()
            data.free_mask = torch.isin(retained, built.free).to(ctx.device)
            data.residual_mask = torch.isin(retained, built.residual).to(ctx.device)
    return data


def check_saved_set(ctx: RunContext) -> dict:
    """A condense.py set built for exactly this request: same dataset, train split, forget rows and
    input shape; anything else is refused in one line rather than silently mixed. Reads only the
    metadata, so ``stages()`` calls it before anything trains."""
    from unlearn.condense import store
    from unlearn.errors import ConfigError

    dm = ctx.dm
    meta = store.read_meta(ctx.condensed_path, expect={"dataset": dm.name})
    want = {"train_images": len(dm.train.data), "forget_rows": store.rows_digest(dm.forget_rows()),
            "shape": list(dm.input_shape)}
    for key, value in want.items():
        if meta.get(key) != value:
            raise ConfigError(f"condensed={ctx.condensed_path!r} was built for another {key} "
                              f"({meta.get(key)!r}, this run: {value!r}); condense.py condenses the source's "
                              "whole train split at its own size, so build it with the same forget request and "
                              "use dataset.heldout_fraction=0 here (as experiment=unlearn/resnet does)")
    return meta


def saved_set(ctx: RunContext):
    from unlearn.condense import store

    check_saved_set(ctx)
    return store.load(ctx.condensed_path, expect={"dataset": ctx.dm.name})


def condensing(ctx: RunContext) -> bool:
    return ctx.condenser is not None and ctx.condenser.name != "none"


def next_request(retained: Tensor, fraction: float, seed: int) -> Tensor:
    """A round's new forget rows: a seeded random ``fraction`` of the rows still retained (spec 7.4:
    the first 10% of the previous round's shuffled retain list)."""
    gen = torch.Generator().manual_seed(seed)
    count = max(1, round(fraction * retained.numel()))
    return retained[torch.randperm(retained.numel(), generator=gen)[:count]].sort().values



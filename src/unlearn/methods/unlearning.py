"""What every approximate-unlearning method shares: the forget request's data, the metrics, timing.

A method starts from the original model (the ``corrupted`` stage, trained on the whole train
split; with ``corruption=none`` it is the clean original) and returns the unlearned model. The
retrained model (stage ``retain``: a fresh model trained on the retain set) is the reference
every number is compared with (``*_gap_to_retrain``: the absolute difference).

Metrics follow the Blend/A-AMU spec section 7: accuracy on the forget set, the real retain
set (even when the method trained on a condensed one) and the evaluation part of the test set;
``mia`` is the paper's folded logistic-regression AUC of the LiRA statistic, forget vs
evaluation images of the forget classes (50 = indistinguishable); ``mia_loss`` a loss-threshold
AUC on the same pair. ``seconds_unlearn`` times the method's own call only; condensation is
``seconds_condense`` (plus ``seconds_cluster`` for Blend's one-off k-means), never mixed in.
"""

from __future__ import annotations

import copy
import time
from abc import abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.data.corruption import Corrupted
from unlearn.eval.evalset import EvalSet, accuracy
from unlearn.eval.mia import forget_mia, loss_threshold_auc, per_sample_losses
from unlearn.methods.base import Method, MethodResult, Stage
from unlearn.models.module import Recipe

METRICS = ("forget_acc", "retain_acc", "test_acc", "mia", "mia_loss")


@dataclass
class ForgetData:
    forget: EvalSet
    retain: EvalSet        # the real retain set: what retain_acc is measured on
    unseen: EvalSet        # in-distribution non-members a method may sample (A-AMU)
    evaluation: EvalSet    # test accuracy and the membership attacks; never trained on
    train_x: Tensor        # what a method trains on as "retain": the retain set or its condensation
    train_y: Tensor
    seconds_condense: float = 0.0
    seconds_cluster: float = 0.0


def _materialise(ctx: RunContext, split: Corrupted) -> EvalSet:
    return EvalSet.from_loader(ctx.dm.loader(split, train=False), ctx.device)


def forget_data(ctx: RunContext) -> ForgetData:
    dm = ctx.dm
    unseen, evaluation = dm.test_parts(ctx.unseen_fraction)
    retain = _materialise(ctx, dm.retain_split())
    data = ForgetData(_materialise(ctx, dm.forget_split()), retain, _materialise(ctx, unseen),
                      _materialise(ctx, evaluation), retain.x, retain.y)
    if ctx.condenser is not None and ctx.condenser.name != "none":
        from unlearn.condense import Pool

        train = _materialise(ctx, dm.train)
        pool = Pool(train.x.cpu(), train.y.cpu(), torch.arange(len(train)), dm.num_classes)
        ctx.condenser.device = ctx.device
        t0 = time.perf_counter()
        ctx.condenser.prepare(pool)  # done once before any request (Blend's clustering)
        data.seconds_cluster = time.perf_counter() - t0
        t1 = time.perf_counter()
        cset = ctx.condenser.condense(pool, dm.forget_rows())
        data.seconds_condense = time.perf_counter() - t1
        data.train_x, data.train_y = cset.images.to(ctx.device), cset.labels.to(ctx.device)
    return data


def scores(net: nn.Module, data: ForgetData, seed: int) -> dict[str, float]:
    net.eval()
    in_classes = torch.isin(data.evaluation.y, data.forget.y.unique())
    member = per_sample_losses(net, data.forget)
    nonmember = per_sample_losses(net, data.evaluation)[in_classes]
    return {
        "forget_acc": accuracy(net, data.forget),
        "retain_acc": accuracy(net, data.retain),
        "test_acc": accuracy(net, data.evaluation),
        "mia": forget_mia(net, data.forget, data.evaluation, seed),
        "mia_loss": loss_threshold_auc(member, nonmember),
    }


class UnlearnMethod(Method):
    """One approximate-unlearning method: ``unlearn(net, data, ctx)`` edits a copy of the original."""

    def stages(self, ctx: RunContext) -> list[Stage]:
        ctx.dm.forget_rows()  # a clear error now if no forget request was given
        return [("corrupted", None), ("retain", None)]

    @abstractmethod
    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        """The unlearned model (``net`` is a copy of the original, on the eval device, free to edit)."""

    def run(self, ctx: RunContext) -> MethodResult:
        data = forget_data(ctx)
        original = ctx.net_with(ctx.runner.get("corrupted").state)
        retrain = ctx.net_with(ctx.runner.get("retain").state)
        torch.manual_seed(ctx.seed)
        start = time.perf_counter()
        net = self.unlearn(copy.deepcopy(original), data, ctx)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        seconds = time.perf_counter() - start
        m = scores(net, data, ctx.seed)
        ref = scores(retrain, data, ctx.seed)
        out = {**m, **{f"original_{k}": v for k, v in scores(original, data, ctx.seed).items()},
               **{f"retrain_{k}": v for k, v in ref.items()},
               **{f"{k}_gap_to_retrain": abs(m[k] - ref[k]) for k in METRICS}}
        out.update(seconds_unlearn=self.seconds(seconds, ctx), seconds_condense=data.seconds_condense,
                   seconds_cluster=data.seconds_cluster, seconds_retrain=ctx.runner.get("retain").seconds,
                   forget_images=float(len(data.forget)), retain_images=float(len(data.retain)),
                   train_images=float(data.train_y.numel()))
        return MethodResult(out)

    def seconds(self, measured: float, ctx: RunContext) -> float:
        return measured


def recipe(epochs: int, lr: float, batch_size: int = 64, optimizer: str = "sgd", momentum: float = 0.9,
           weight_decay: float = 5e-4, warmup: int = 0) -> Recipe:
    """A per-epoch warm-up + cosine recipe (``warmup`` 0: plain cosine), the baselines' schedule (spec 5.1)."""
    return Recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer=optimizer,
                  momentum=float(momentum), weight_decay=float(weight_decay), warmup=int(warmup))

"""Retrain: a fresh model trained on the retain set, the gold standard every method chases.

Without condensation it is the ``retain`` stage itself (trained once, shared with every other
method's reference, timed when it was trained). With a condensed retain set it trains a fresh
model on that set with the same recipe (``stages.retain``: its epochs or ``max_steps``, its
schedule's ``interval``), which is the paper's "retrain with condensation" row.
"""

from __future__ import annotations

from torch import nn

from unlearn.context import RunContext
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit
from unlearn.unlearning.method import UnlearnMethod
from unlearn.unlearning.request import ForgetData


@METHODS.register("retrain")
class Retrain(UnlearnMethod):
    name = "retrain"

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        if data.train_y.numel() == len(data.retain):
            self._stage = True
            return ctx.net_with(ctx.runner.get("retain").state)
        self._stage = False
        fresh = ctx.build_net().to(ctx.device)
        return fit(ctx.fits, fresh, data.train_x, data.train_y, ctx.runner.recipes["retain"], ctx.seed)

    def seconds(self, measured: float, ctx: RunContext) -> float:
        return ctx.runner.get("retain").seconds if getattr(self, "_stage", False) else measured

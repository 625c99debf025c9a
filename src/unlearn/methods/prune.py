"""Prune (Jia et al., "Model sparsity can simplify machine unlearning"; spec blend_aamu 5.1 / 5.2,
defaults: the C10-R18 "full" column): iterative global unstructured L1 magnitude pruning of the
original model while fine-tuning it with CE on the retain set (the condensed one in condensed runs).

Pruning events happen at the start of every epoch e with (E - e) % step == 0 (E = 20, step = 5:
e = 0, 5, 10, 15); each removes the fraction r = 1 - (1 - target)^(1 / (floor((E-1)/step) + 1)) of
the weights still unpruned (target 0.95: r ~ 0.527), and the masks persist. When ``step`` does
not divide E there is one event fewer than the formula assumes and the final sparsity stays
below the target (the reference's formula, kept). SGD momentum 0.9, wd 5e-4, lr 0.04, constant
lr (the reference's MultiStepLR 50/75 never fires). Before returning, the pruning is made permanent
(``prune.remove``), so the state dict keeps its plain parameter names; the final sparsity of
the pruned weights is logged and reported as the ``prune_sparsity`` metric.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from unlearn.context import RunContext
from unlearn.errors import ConfigError
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit
from unlearn.unlearning.method import UnlearnMethod, milestone_sgd
from unlearn.unlearning.request import ForgetData

log = logging.getLogger("unlearn")


def prune_rate(epochs: int, step: int, target: float) -> float:
    """Fraction of the remaining weights each pruning event removes (the reference's formula)."""
    return 1.0 - (1.0 - target) ** (1.0 / (math.floor((epochs - 1) / step) + 1))


def prune_epochs(epochs: int, step: int) -> list[int]:
    """The epochs at whose start a pruning event happens: (E - e) % step == 0."""
    return [e for e in range(epochs) if (epochs - e) % step == 0]


def prunable(net: nn.Module) -> list[tuple[nn.Module, str]]:
    """The (module, "weight") pairs pruned: every Conv2d; with no conv, every Linear but the head.

    The spec prunes conv weights only; an MLP (fc1, the digits default) has none, so there the
    hidden Linear layers stand in. The head is ``net.head`` for a Classifier, else the last Linear.
    """
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        return [(m, "weight") for m in convs]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    head = getattr(net, "head", None)
    head = head if isinstance(head, nn.Linear) else (linears[-1] if linears else None)
    return [(m, "weight") for m in linears if m is not head]


@METHODS.register("prune")
class Prune(UnlearnMethod):
    name = "prune"

    def __init__(self, epochs: int = 20, lr: float = 0.04, target_sparsity: float = 0.95, step: int = 5,
                 momentum: float = 0.9, weight_decay: float = 5e-4, batch_size: int = 64,
                 milestones: tuple[int, ...] = (50, 75)) -> None:
        if not 0.0 <= float(target_sparsity) < 1.0:
            raise ConfigError(f"method.target_sparsity={target_sparsity!r} is not allowed; allowed: 0 <= s < 1")
        if int(step) < 1:
            raise ConfigError(f"method.step={step!r} is not allowed; allowed: a positive number of epochs")
        self.recipe = milestone_sgd(epochs, lr, batch_size, momentum, weight_decay, milestones)
        self.target, self.step = float(target_sparsity), int(step)
        self.rate = prune_rate(self.recipe.max_epochs, self.step, self.target)
        self.sparsity = float("nan")

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        params = prunable(net)
        if not params:
            raise ConfigError("prune: the net has no Conv2d weight and no Linear weight besides the head to prune")
        epochs = self.recipe.max_epochs
        events = set(prune_epochs(epochs, self.step))
        orders = [list(m._parameters) for m, _ in params]  # prune.remove re-registers "weight" last

        def prune_now() -> None:
            # The current weights: a pruned module's ``weight`` attribute is only refreshed by its next
            # forward, i.e. it would be one optimiser step old here.
            current = {(m, n): getattr(m, n + "_orig") * getattr(m, n + "_mask") if torch_prune.is_pruned(m)
                       else getattr(m, n) for m, n in params}
            torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=self.rate,
                                            importance_scores={k: v.detach() for k, v in current.items()})

        if 0 in events:  # before the optimiser exists: pruning keeps the Parameter objects (now *_orig)
            prune_now()

        def epoch_start(epoch: int) -> None:
            if epoch in events:
                prune_now()

        # Not resumable: a checkpoint of re-parametrised (weight_orig, weight_mask) layers cannot be
        # loaded into the fresh net a rerun starts from, so a killed prune run starts over.
        fit(ctx.fits, net, data.train_x, data.train_y, self.recipe, ctx.seed, epoch_start=epoch_start,
            resumable=False)
        for (module, name), order in zip(params, orders):
            if torch_prune.is_pruned(module):
                torch_prune.remove(module, name)
                items = [(k, module._parameters.pop(k)) for k in order]
                module._parameters.update(items)  # the original order: state dicts line up
        with torch.no_grad():
            zeros = sum(int((m.weight == 0).sum()) for m, _ in params)
            total = sum(m.weight.numel() for m, _ in params)
        self.sparsity = zeros / total
        log.info("prune: %d pruning events at rate %.4f; final sparsity %.4f of %d prunable weights",
                 len(events), self.rate, self.sparsity, total)
        return net

    def own_metrics(self) -> dict[str, float]:
        return {"prune_sparsity": self.sparsity}

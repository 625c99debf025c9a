"""Sparsity-aware unlearning baselines (Jia et al., "Model sparsity can simplify machine unlearning").

Spec blend_aamu 5.1 / 5.2 (defaults: the C10-R18 "full" column). Both start from the original
model and fine-tune it on the retain set (the condensed one in condensed runs):

- ``l1_sparse``: loss CE + alpha_e * ||theta||_1 over **all** parameters (biases and norm affines
  included), with a linear decay alpha_e = alpha * (1 - e / (E - E0)) for epochs e < E - E0 and 0 for
  the last E0 = ``no_l1_epochs`` epochs. SGD momentum 0.9, wd 5e-4, no warm-up, lr 0.01, 30 epochs.
  The reference's MultiStepLR (milestones 50/75) never fires within 30 epochs, so the lr is
  constant; ``milestones`` keeps that scheduler (and fires if ``epochs`` is raised past 50).
  Reports ``l1_norm_ratio``: ||theta||_1 after / before.
- ``prune``: iterative global unstructured L1 magnitude pruning + fine-tuning with CE. Pruning
  events happen at the start of every epoch e with (E - e) % step == 0 (E = 20, step = 5:
  e = 0, 5, 10, 15); each removes the fraction r = 1 - (1 - target)^(1 / (floor((E-1)/step) + 1)) of
  the weights still unpruned (target 0.95: r ~ 0.527), and the masks persist. When ``step`` does
  not divide E there is one event fewer than the formula assumes and the final sparsity stays
  below the target (the reference's formula, kept). SGD momentum 0.9, wd 5e-4, lr 0.04, constant
  lr (the same inactive 50/75 milestones). Before returning, the pruning is made permanent
  (``prune.remove``), so the state dict keeps its plain parameter names; the final sparsity of
  the pruned weights is logged and reported as the ``prune_sparsity`` metric.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
import torch.nn.utils.prune as torch_prune
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.errors import ConfigError
from unlearn.methods.unlearn_loop import fit
from unlearn.methods.unlearning import ForgetData, UnlearnMethod
from unlearn.models.module import Recipe
from unlearn.registry import METHODS

log = logging.getLogger("unlearn")


def _sgd(epochs: int, lr: float, batch_size: int, momentum: float, weight_decay: float,
         milestones: list[int] | tuple[int, ...]) -> Recipe:
    return Recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer="sgd",
                  momentum=float(momentum), weight_decay=float(weight_decay), warmup=0,
                  milestones=[int(m) for m in milestones], gamma=0.1)


def l1_weight(alpha: float, epoch: int, epochs: int, no_l1_epochs: int) -> float:
    """alpha_e: linear decay from alpha to 0 over the first E - E0 epochs, then 0."""
    active = epochs - no_l1_epochs
    return alpha * (1.0 - epoch / active) if epoch < active else 0.0


@torch.no_grad()
def l1_norm(net: nn.Module) -> float:
    return float(sum(p.abs().sum() for p in net.parameters()))


@METHODS.register("l1_sparse")
class L1Sparse(UnlearnMethod):
    name = "l1_sparse"

    def __init__(self, epochs: int = 30, lr: float = 0.01, alpha: float = 1e-4, no_l1_epochs: int = 1,
                 momentum: float = 0.9, weight_decay: float = 5e-4, batch_size: int = 64,
                 milestones: tuple[int, ...] = (50, 75)) -> None:
        if not 0 <= int(no_l1_epochs) <= int(epochs):
            raise ConfigError(f"method.no_l1_epochs={no_l1_epochs!r} is not allowed; allowed: 0..epochs ({epochs})")
        self.recipe = _sgd(epochs, lr, batch_size, momentum, weight_decay, milestones)
        self.alpha, self.no_l1_epochs = float(alpha), int(no_l1_epochs)
        self.l1_ratio = float("nan")

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        epochs = self.recipe.max_epochs
        state = {"alpha": l1_weight(self.alpha, 0, epochs, self.no_l1_epochs)}

        def loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            ce = F.cross_entropy(model(x), y)
            if state["alpha"] == 0.0:
                return ce
            return ce + state["alpha"] * sum(p.abs().sum() for p in model.parameters())

        def after_epoch(epoch: int) -> None:
            state["alpha"] = l1_weight(self.alpha, epoch + 1, epochs, self.no_l1_epochs)

        before = l1_norm(net)
        fit(net, data.train_x, data.train_y, self.recipe, ctx.seed, loss, after_epoch=after_epoch)
        self.l1_ratio = l1_norm(net) / before
        return net

    def own_metrics(self) -> dict[str, float]:
        return {"l1_norm_ratio": self.l1_ratio}


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
        self.recipe = _sgd(epochs, lr, batch_size, momentum, weight_decay, milestones)
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

        def after_epoch(epoch: int) -> None:
            if epoch + 1 in events:
                prune_now()

        fit(net, data.train_x, data.train_y, self.recipe, ctx.seed, after_epoch=after_epoch)
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

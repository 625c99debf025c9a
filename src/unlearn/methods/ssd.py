"""Selective Synaptic Dampening (Foster et al., 2024) and its label-free variant (spec blend_aamu 5.1).

No training: one pass to estimate per-parameter importances, then a multiplicative edit.

1. Importances are diagonal Fisher estimates: the squared gradient of the batch-mean CE, averaged
   over batches of 64 (model in eval mode, batches drawn in a seeded random order).
   I_D over the full training data the method may see (forget U the retain set it trains on,
   condensed in condensed runs), I_F over the forget set.
2. Every parameter entry with I_F > alpha * I_D (alpha = 10, "selection") is multiplied by
   min(lambda * I_D / I_F, 1) (lambda = 1, "dampening", exponent 1, cap 1); the others are untouched.

This is the **intended** algorithm: a parameter is dampened when it matters far more to the
forget set than to the data as a whole. The reference code passes the two importances in
swapped roles (spec S9): it dampens entries with I_D > alpha * I_F by min(lambda * I_F / I_D, 1).
``swap_roles: true`` reproduces that. ``method.label_free=true`` (SSD-LF; Foster
et al., "loss-free") replaces the squared CE gradient with the absolute gradient of the batch-mean
squared L2 norm of the logits, so no label is used; selection and dampening are the same.

Reports ``ssd_dampened``: the fraction of parameter entries that were selected.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.registry import METHODS
from unlearn.unlearning.fit import shuffled_batches
from unlearn.unlearning.method import UnlearnMethod
from unlearn.unlearning.request import ForgetData
from unlearn.eval.evalset import on_device


def importances(net: nn.Module, x: Tensor, y: Tensor, batch_size: int, gen: torch.Generator,
                kind: str = "ce") -> dict[str, Tensor]:
    """Per-parameter importance averaged over batches: (grad CE)^2 ("ce") or |grad mean ||f(x)||^2|."""
    params = {n: p for n, p in net.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    device = next(iter(params.values())).device
    batches = 0
    net.eval()
    for rows in shuffled_batches(y.numel(), batch_size, gen, x.device):
        out = net(x[rows].to(device))
        loss = F.cross_entropy(out, y[rows].to(device)) if kind == "ce" else out.pow(2).sum(1).mean()
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for (n, _), g in zip(params.items(), grads):
            if g is not None:
                total[n] += g.pow(2) if kind == "ce" else g.abs()
        batches += 1
    return {n: t / max(batches, 1) for n, t in total.items()}


@torch.no_grad()
def dampen(param: Tensor, imp_full: Tensor, imp_forget: Tensor, alpha: float, lam: float,
           exponent: float = 1.0, cap: float = 1.0) -> Tensor:
    """Multiply in place the entries with imp_forget > alpha * imp_full by min((lam*imp_full/imp_forget)^exp, cap).

    Returns the boolean mask of the selected entries.
    """
    selected = imp_forget > alpha * imp_full
    factor = (lam * imp_full[selected] / imp_forget[selected]).pow(exponent).clamp(max=cap)
    param[selected] = param[selected] * factor
    return selected


@METHODS.register("ssd")
class SSD(UnlearnMethod):
    name = "ssd"

    def __init__(self, alpha: float = 10.0, lam: float = 1.0, exponent: float = 1.0, cap: float = 1.0,
                 batch_size: int = 64, swap_roles: bool = False, label_free: bool = False) -> None:
        self.importance = "logit_norm" if label_free else "ce"
        self.alpha, self.lam, self.exponent, self.cap = float(alpha), float(lam), float(exponent), float(cap)
        self.batch_size, self.swap_roles = int(batch_size), bool(swap_roles)
        self.dampened = float("nan")

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        gen = torch.Generator().manual_seed(ctx.seed)
        forget_x = data.forget.x_on()
        full_x = torch.cat([forget_x, on_device(data.train_x, forget_x.device)])
        full_y = torch.cat([data.forget.y, data.train_y.to(data.forget.y.device)])  # forget U retain
        imp_forget = importances(net, forget_x, data.forget.y, self.batch_size, gen, self.importance)
        imp_full = importances(net, full_x, full_y, self.batch_size, gen, self.importance)
        if self.swap_roles:  # the reference's call (spec S9)
            imp_forget, imp_full = imp_full, imp_forget
        chosen = total = 0
        for n, p in net.named_parameters():
            if n in imp_full:
                chosen += int(dampen(p, imp_full[n], imp_forget[n], self.alpha, self.lam, self.exponent,
                                     self.cap).sum())
                total += p.numel()
        self.dampened = chosen / max(total, 1)
        net.eval()
        return net

    def own_metrics(self) -> dict[str, float]:
        return {"ssd_dampened": self.dampened}

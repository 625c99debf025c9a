"""Bad-Teacher (Chundawat et al., 2023, "good and bad teacher" / blindspot unlearner).

Spec blend_aamu 5.1/5.2: the student (the original) distils from two frozen teachers: on forget
images (flag 1) the incompetent teacher, a randomly initialised net of the same architecture
(built with ``ctx.seed``); on retain images (flag 0) the full teacher, a copy of the original.
Loss KL(softmax_T(teacher) || softmax_T(student)), T = 2, batch mean x T^2, over shuffled
batches of 64 of forget U retain. SGD momentum 0.9, weight decay 5e-4, lr 0.01, 20 epochs
(CIFAR-10 ResNet-18, full retain set); the reference's MultiStepLR 50/75 never fires, so the lr
is constant.

The retain part is a random ``partial_retain_ratio`` (0.6234) of the retain set, drawn once.
On a condensed retain set (``train_y`` is not the real retain set) the whole condensed set is
used and the ratio is ignored, as the reference does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.errors import bad_value
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit, sample_rows
from unlearn.unlearning.method import UnlearnMethod
from unlearn.unlearning.request import ForgetData
from unlearn.unlearning.teachers import constant_lr, freeze, frozen_copy, kl_to_target
from unlearn.eval.evalset import take


@METHODS.register("bad_teacher")
class BadTeacher(UnlearnMethod):
    name = "bad_teacher"

    def __init__(self, epochs: int = 20, lr: float = 0.01, temperature: float = 2.0,
                 partial_retain_ratio: float = 0.6234, momentum: float = 0.9, weight_decay: float = 5e-4,
                 batch_size: int = 64) -> None:
        if not 0.0 < partial_retain_ratio <= 1.0:
            raise bad_value("method.partial_retain_ratio", partial_retain_ratio, "a fraction in (0, 1]")
        self.recipe = constant_lr(epochs, lr, batch_size, momentum, weight_decay)
        self.T, self.ratio = float(temperature), float(partial_retain_ratio)

    def retain_rows(self, data: ForgetData, seed: int) -> Tensor:
        n = data.train_y.numel()
        rows = torch.arange(n, device=data.train_y.device)
        if n != len(data.retain):  # condensed: all of it
            return rows
        return sample_rows(rows, int(self.ratio * n), torch.Generator().manual_seed(seed + 3))

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        full = frozen_copy(net)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.seed)
            incompetent = freeze(ctx.build_net().to(ctx.device))
        keep = self.retain_rows(data, ctx.seed)
        device = data.train_y.device
        x = torch.cat([data.forget.x_on(device), take(data.train_x, keep, device)])
        forget_flag = torch.cat([torch.ones(len(data.forget), dtype=torch.bool),
                                 torch.zeros(keep.numel(), dtype=torch.bool)]).to(x.device)

        def loss(model: nn.Module, xb: Tensor, flag: Tensor, step: int) -> Tensor:
            with torch.no_grad():
                target = torch.where(flag[:, None], F.log_softmax(incompetent(xb) / self.T, dim=1),
                                     F.log_softmax(full(xb) / self.T, dim=1))
            return kl_to_target(model(xb), target, self.T)

        # ``fit`` hands the loss each batch's "labels": here the forget flag, the only label needed.
        return fit(ctx.fits, net, x, forget_flag, self.recipe, ctx.seed, loss)

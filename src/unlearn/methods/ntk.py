"""NTK scrubbing (Golatkar et al., "Forgetting outside the box"), spec blend_aamu 5.1.

Linearise the model around its current weights and ask how the weights would differ had the
forget set never been seen; move the weights that way. No training.

1. Per-sample Jacobians of the logits (``torch.func``: vmap of jacrev) for the retain set (G_r)
   and the forget set (G_f), and residuals f0 - onehot(y) with f0 the softmax probabilities (the
   reference's cross-entropy variant). G has one column per (sample, class).
2. w_all = -G (G^T G + N wd I)^-1 (f0 - y) over retain U forget (N samples), w_r likewise over
   the retain set only (N_r samples). G^T G is computed in float32 (the dominant (N C)^2 P cost),
   the solves and the products with G in float64.
3. Delta = w_r - w_all.
4. The "trapezium trick" scale from the angle between Delta and m = theta - theta_init - w_r;
   theta_init is the current model (as in the reference), so m = -w_r.
5. theta <- theta + beta * scale * Delta; wd = 0.1, beta = 100 (the old repo: beta = 1).

G holds P x N x C numbers (P trainable parameters, C classes): only tiny models and subsets fit.
The retain set (the condensed one in condensed runs) is subsampled, seeded, to at most
``max_retain`` images (the old repo used 100 per class) and a request whose Jacobian would take
more than ``max_bytes`` in float32 is refused with one line before anything is computed. The two
float64 Gram matrices add about 2 x (N C)^2 x 8 bytes on top (~1.9 GB at 1,108 samples and 10 classes).

Measured on digits (fc1 with 64 hidden units, 100 retain + 108 forget images, seed 0): beta = 1
moves forget accuracy 0.991 -> 0.963 (retrain 0.954) and keeps test accuracy at 0.978; the spec's
beta = 100 collapses the model to ~10% accuracy (trapezium scale ~2.7, so the step is ~270 Delta).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.errors import ConfigError
from unlearn.registry import METHODS
from unlearn.unlearning.fit import sample_rows
from unlearn.unlearning.jacobians import grad_params, per_sample_jacobians
from unlearn.method import Stage
from unlearn.unlearning.method import UnlearnMethod
from unlearn.unlearning.request import ForgetData, condensing
from unlearn.eval.evalset import take

COLUMN_BYTES = 256 * 2**20  # float64 column block of G used at a time


def trapezium_scale(delta: Tensor, w_retain: Tensor) -> float:
    """The reference's scale for Delta from its angle with m = -w_r (theta_init = theta)."""
    m = -w_retain
    nd, nm = delta.norm(), m.norm()
    if nd == 0 or nm == 0:
        return 1.0
    inner = float(torch.clamp((delta / nd) @ (m / nm), -1.0, 1.0))
    if inner < 0:
        predicted = float(nd) + 2 * math.sin(math.acos(inner) - math.pi / 2) * float(nm)
    else:
        predicted = float(nd) + 2 * math.cos(math.acos(inner)) * float(nm)
    return predicted / float(nd)


def _fmt_bytes(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,.0f} B"


@METHODS.register("ntk")
class NTK(UnlearnMethod):
    name = "ntk"

    def __init__(self, weight_decay: float = 0.1, beta: float = 100.0, max_retain: int | None = 1000,
                 max_bytes: int = 2 * 2**30) -> None:
        self.wd, self.beta = float(weight_decay), float(beta)
        self.max_retain = int(max_retain) if max_retain else None
        self.max_bytes = int(max_bytes)
        self.scale = float("nan")

    def stages(self, ctx: RunContext) -> list[Stage]:
        """Refuse a Jacobian that cannot fit before the original and the retrain train (minutes), not
        after. The retain count is known here only without a condensed set (a condenser decides its
        size later), so a condensed run is checked on its forget set alone now and on its real sizes
        in ``unlearn``."""
        stages = super().stages(ctx)
        n_f, n_r = int(ctx.dm.forget_rows().numel()), 0
        if not condensing(ctx) and not ctx.condensed_path:
            n_r = len(ctx.dm.retain_split().data)
            n_r = min(n_r, self.max_retain) if self.max_retain is not None else n_r
        count = sum(p.numel() for p in grad_params(ctx.build_net()).values())
        self._check_bytes(count, n_r, n_f, ctx.dm.num_classes)
        return stages

    def _check_bytes(self, count: int, n_r: int, n_f: int, classes: int) -> None:
        need = 4 * count * (n_r + n_f) * classes
        if need > self.max_bytes:
            raise ConfigError(
                f"ntk: the per-sample Jacobian needs 4 B x {count:,} parameters x {n_r + n_f:,} samples "
                f"({n_r:,} retain + {n_f:,} forget) x {classes} classes = {_fmt_bytes(need)}, over "
                f"method.max_bytes={self.max_bytes:,} ({_fmt_bytes(self.max_bytes)}); use a smaller arch "
                f"(e.g. arch=mlp arch.net.hidden=[64]) or a lower method.max_retain (now {self.max_retain})")

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        gen = torch.Generator().manual_seed(ctx.seed)
        rows = torch.arange(data.train_y.numel())
        if self.max_retain is not None:
            rows = sample_rows(rows, self.max_retain, gen).sort().values
        xr, yr = take(data.train_x, rows, data.train_y.device), data.train_y[rows.to(data.train_y.device)]
        xf, yf = data.forget.x_on(), data.forget.y
        n_r, n_f = yr.numel(), yf.numel()
        params = grad_params(net)
        count = sum(p.numel() for p in params.values())
        device = next(iter(params.values())).device
        net.eval()
        with torch.no_grad():
            classes = net(xf[:1].to(device)).shape[1]
        self._check_bytes(count, n_r, n_f, classes)

        x = torch.cat([xr.to(device), xf.to(device)])
        y = torch.cat([yr.to(device), yf.to(device)])
        g = torch.empty(x.shape[0] * classes, count, device=device)  # G^T: one row per (sample, class)
        resid = torch.empty(x.shape[0] * classes, dtype=torch.float64, device=device)
        for chunk, out, jac in per_sample_jacobians(net, x):
            lo, hi = int(chunk[0]) * classes, (int(chunk[-1]) + 1) * classes
            g[lo:hi] = torch.cat([j.reshape(j.shape[0] * classes, -1) for j in jac.values()], dim=1)
            r = torch.softmax(out.double(), dim=1) - F.one_hot(y[chunk.to(device)], classes).double()
            resid[lo:hi] = r.reshape(-1)

        # G^T G in float32 (the matmul is the cost: (N C)^2 P), then the solves in float64.
        solve_device = torch.device("cpu") if device.type == "mps" else device  # no float64 on MPS
        rows_all, rows_r = g.shape[0], n_r * classes
        gram = (g @ g.T).to(solve_device, torch.float64)
        resid = resid.to(solve_device)
        eye = torch.eye(rows_all, dtype=torch.float64, device=solve_device)
        a_all = torch.linalg.solve(gram + (n_r + n_f) * self.wd * eye, resid)
        a_r = torch.zeros_like(a_all)
        a_r[:rows_r] = torch.linalg.solve(gram[:rows_r, :rows_r] + n_r * self.wd * eye[:rows_r, :rows_r],
                                          resid[:rows_r])
        # w_all = -G a_all, w_r = -G pad(a_r); Delta = w_r - w_all = G (a_all - pad(a_r)).
        cols = max(1, COLUMN_BYTES // (8 * rows_all))
        delta = torch.empty(count, dtype=torch.float64, device=solve_device)
        w_r = torch.empty_like(delta)
        for j in range(0, count, cols):
            block = g[:, j:j + cols].to(solve_device, torch.float64)
            delta[j:j + cols] = block.T @ (a_all - a_r)
            w_r[j:j + cols] = -(block.T @ a_r)
        del g, gram
        self.scale = trapezium_scale(delta, w_r)
        step = (self.beta * self.scale * delta).to(device)
        with torch.no_grad():
            offset = 0
            for n, p in net.named_parameters():
                if n in params:
                    p.add_(step[offset:offset + p.numel()].view_as(p).to(p.dtype))
                    offset += p.numel()
        net.eval()
        return net

    def own_metrics(self) -> dict[str, float]:
        return {"ntk_scale": self.scale}

"""Potion (spec 6.3): unlearn a backdoor by dampening the weights the poisoned proxy leans on.

The baseline CUTS is compared against for poison. It never trains: it compares, per weight
element, how strongly the label-free output norm reacts on the poisoned proxy (F) versus on
the whole (poisoned) training set (O), and shrinks the elements whose F/O ratio lies in the
top ``ln(1 + 100 f)`` percent, growing ``f`` until the proxy attack success rate collapses.

The threshold is one percentile over the ratios of *all* parameters together, as in the
reference: a per-tensor percentile would dampen the same share of every layer, whereas the
trigger typically lives in a few of them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.errors import ConfigError, bad_value
from unlearn.eval.evalset import accuracy
from unlearn.correction.outcome import model_metrics, outcome
from unlearn.method import Method, MethodResult
from unlearn.registry import METHODS

log = logging.getLogger("unlearn")

Importance = dict[str, Tensor]


def percentile_for(frac_dl: float) -> float:
    """The reference's length-based selection percentile, 100 - ln(1 + 100 f), kept in [0, 100]."""
    return min(100.0, max(0.0, 100.0 - math.log1p(100.0 * frac_dl)))


def dampened_parameters(net: nn.Module) -> dict[str, nn.Parameter]:
    """Trainable, non-scalar parameters: a frozen zero-shot head has no gradient to compare."""
    return {n: p for n, p in net.named_parameters() if p.requires_grad and p.ndim > 0}


def importance(net: nn.Module, batches: Iterable[Tensor], params: Mapping[str, nn.Parameter]) -> Importance:
    """Mean over batches of |dL/dtheta|, L = batch mean of the logits' L2 norm (needs no labels).

    The mean is over batches, not samples, as in the reference, so it depends on the batch size.
    """
    net.eval()
    names, tensors = list(params), list(params.values())
    sums = [torch.zeros_like(p, dtype=torch.float32) for p in tensors]
    count = 0
    for x in batches:
        loss = net(x).float().norm(dim=1).mean()
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        for s, g in zip(sums, grads):
            if g is not None:  # unused by the forward pass (e.g. a mask token): importance 0
                s.add_(g.detach().float().abs())
        count += 1
    if count == 0:
        raise ValueError("cannot compute importances on an empty split")
    return {n: s / count for n, s in zip(names, sums)}


def sorted_ratios(original: Importance, forget: Importance) -> Tensor:
    """All finite F/O ratios, sorted once so every retry's percentile is a lookup."""
    parts = [(forget[n] / original[n]).flatten() for n in original]
    ratios = torch.cat(parts) if parts else torch.zeros(0)
    return torch.sort(ratios[torch.isfinite(ratios)]).values


def percentile_of_sorted(values: Tensor, q: float) -> float:
    """``numpy.percentile(values, q)`` (linear interpolation) of an ascending 1-D tensor."""
    n = values.numel()
    if n == 0:
        return math.inf  # no finite ratio anywhere: nothing is selected
    pos = (n - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    a, b, t = float(values[lo]), float(values[hi]), pos - lo
    # numpy's lerp: from the nearer end, so q = 100 returns the maximum exactly.
    return b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t


def dampen(weights: Mapping[str, Tensor], original: Importance, forget: Importance, threshold: float,
           dampening: float = 1.0, exponent: float = 1.0) -> tuple[dict[str, Tensor], int]:
    """Scale every element with F > a*O by min(1, (lambda*O/F)^exponent); the rest stay.

    Returns the new weights (only the tensors in ``original``) and how many elements moved.
    """
    out, selected = {}, 0
    for n, o in original.items():
        f, w = forget[n], weights[n]
        mask = f > threshold * o
        factor = (dampening * o / f).pow(exponent).clamp(max=1.0)
        out[n] = torch.where(mask, w * factor.to(w.dtype), w)
        selected += int(mask.sum())
    return out, selected


@dataclass
class Trial:
    frac_dl: float
    percentile: float
    threshold: float
    proxy_asr: float
    selected: int


@dataclass
class Search:
    """The retries of one Potion run; ``best`` is the try whose weights are kept."""

    asr0: float
    trials: list[Trial] = field(default_factory=list)
    reached: bool = False

    @property
    def best(self) -> Trial:
        if self.reached:
            return self.trials[-1]
        # No try reached the target: keep the one with the lowest proxy ASR (the first of ties).
        return min(self.trials, key=lambda t: t.proxy_asr)


@METHODS.register("potion")
class Potion(Method):
    name = "potion"
    uses_heldout = True

    def __init__(
        self,
        frac_dl: float = 0.01,
        growth: float = 1.1,
        max_tries: int = 500,
        asr_relative: float = 0.01,
        asr_absolute: float = 0.01,
        dampening: float = 1.0,
        exponent: float = 1.0,
        batch_size: int = 256,
    ) -> None:
        for key, value in (("frac_dl", frac_dl), ("dampening", dampening), ("exponent", exponent)):
            if not float(value) > 0:
                raise bad_value(f"method.{key}", value, "a number > 0")
        if not float(growth) > 1:
            raise bad_value("method.growth", growth, "a number > 1 (frac_dl grows until the backdoor is gone)")
        for key, value in (("max_tries", max_tries), ("batch_size", batch_size)):
            if int(value) < 1:
                raise bad_value(f"method.{key}", value, "an integer >= 1")
        self.frac_dl, self.growth, self.max_tries = float(frac_dl), float(growth), int(max_tries)
        self.asr_relative, self.asr_absolute = float(asr_relative), float(asr_absolute)
        self.dampening, self.exponent = float(dampening), float(exponent)
        self.batch_size = int(batch_size)

    def stages(self, ctx: RunContext) -> list[tuple[str, int | None]]:
        if ctx.corruption.kind != "poison":
            raise ConfigError(f"method=potion needs corruption=poison: it unlearns a backdoor through the poisoned "
                              f"proxy, and this run's {ctx.corruption.kind!r} corruption has no forget set")
        oracle = [("oracle", None)] if ctx.corruption.has_clean_train else []
        return [("corrupted", None), *oracle]

    def correct(self, ctx: RunContext) -> tuple[nn.Module, Search, dict[str, float]]:
        """The dampened corrupted model, the search that chose it, and the seconds each part took."""
        self.stages(ctx)
        net = ctx.net_with(ctx.runner.get("corrupted").state).float()
        params = dampened_parameters(net)
        proxy = ctx.evalset("proxy_triggered")

        start = time.perf_counter()
        train = ctx.dm.loader(ctx.dm.train, train=False, batch_size=self.batch_size)
        original = importance(net, (b["x"].to(ctx.device, non_blocking=True) for b in train), params)
        forget = importance(net, proxy.batches(self.batch_size, ctx.device), params)
        ratios = sorted_ratios(original, forget)
        seconds = {"importance": time.perf_counter() - start}

        start = time.perf_counter()
        weights = {n: p.detach().clone() for n, p in params.items()}
        search = Search(asr0=accuracy(net, proxy))
        frac = self.frac_dl
        for _ in range(self.max_tries):
            trial = self._try(net, params, weights, original, forget, ratios, frac, proxy)
            search.trials.append(trial)
            if trial.proxy_asr <= self.asr_relative * search.asr0 or trial.proxy_asr <= self.asr_absolute:
                search.reached = True
                break
            frac *= self.growth
        if not search.reached:
            log.warning("potion: no frac_dl in %d tries brought the proxy ASR to the target; keeping the lowest "
                        "(%.4f at frac_dl=%.4g)", self.max_tries, search.best.proxy_asr, search.best.frac_dl)
            self._try(net, params, weights, original, forget, ratios, search.best.frac_dl, proxy)
        seconds["search"] = time.perf_counter() - start
        return net, search, seconds

    @torch.no_grad()
    def _try(self, net, params, weights, original, forget, ratios, frac: float, proxy) -> Trial:
        """Restore the corrupted weights, dampen them at ``frac``, measure the proxy ASR."""
        pct = percentile_for(frac)
        a = percentile_of_sorted(ratios, pct)
        new, selected = dampen(weights, original, forget, a, self.dampening, self.exponent)
        for n, p in params.items():
            p.copy_(new[n])
        return Trial(frac, pct, a, accuracy(net, proxy), selected)

    def run(self, ctx: RunContext) -> MethodResult:
        net, search, seconds = self.correct(ctx)
        corrupted = ctx.runner.get("corrupted")
        oracle = ctx.runner.get("oracle") if ctx.corruption.has_clean_train else None
        test = ctx.evalset("test")
        corrupted_m = model_metrics(ctx, ctx.net_with(corrupted.state))
        corrected_m = model_metrics(ctx, net)
        oracle_acc = accuracy(ctx.net_with(oracle.state), test) if oracle is not None else None

        best = search.best
        total = sum(p.numel() for p in dampened_parameters(net).values())
        m: dict[str, float] = {
            **outcome(corrected_m, corrupted_m, oracle_acc),
            "potion_frac_dl": best.frac_dl,
            "potion_tries": len(search.trials),
            "potion_percentile": best.percentile,
            "potion_dampened_fraction": best.selected / max(total, 1),
        }
        m["seconds_corrupted"] = corrupted.seconds
        if oracle is not None:
            m["seconds_oracle"] = oracle.seconds
        m.update({f"seconds_{k}": v for k, v in seconds.items()})
        curves = {
            "potion_frac_dl": [t.frac_dl for t in search.trials],
            "potion_proxy_asr": [t.proxy_asr for t in search.trials],
            "potion_threshold": [t.threshold for t in search.trials],
            "potion_dampened": [t.selected for t in search.trials],
            "potion_proxy_asr_before": search.asr0,
            "potion_target_reached": search.reached,
            "selection": "target reached" if search.reached else "lowest proxy ASR (target not reached)",
        }
        return MethodResult(m, curves)

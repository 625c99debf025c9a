"""The base of every approximate-unlearning method: one request (or several rounds), timed alike.

The retrained model (stage ``retain``: a fresh model trained on the retain set) is the reference
every number is compared with (``*_gap_to_retrain``: the absolute difference).

``seconds_unlearn`` is the method's own call with the Trainer start-up taken out: the same clock
the stage runner puts around the retrain stage's ``trainer.fit`` (``unlearning.fit``), so the
time ratios the Blend/A-AMU paper is about compare one kind of loop with itself. Condensation is
``seconds_condense`` (plus ``seconds_cluster`` for Blend's one-off k-means), never mixed in.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from abc import abstractmethod

import torch
from torch import nn

from unlearn.context import RunContext
from unlearn.method import Method, MethodResult, Stage
from unlearn.models.recipe import Recipe, method_recipe
from unlearn.runs import cache_key
from unlearn.unlearning.fit_spec import FitPlace, single_device
from unlearn.unlearning.condensed_cache import PoolOnce
from unlearn.unlearning.request import ForgetData, check_saved_set, forget_data, next_request
from unlearn.unlearning.scores import METRICS, scores, shadow_attack
from unlearn.eval.evalset import images_of


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def shadow_order(seed: int, count: int) -> list[int]:
    """The shadows every run seed shares, each seed starting at its own offset (golden-ratio spaced):
    the jobs of a multi-seed sweep run side by side then train different shadows instead of queueing
    on one another's locks, and reuse what the others made. The order is fixed by the seed, so every
    DDP rank takes the same one."""
    start = round(seed * count * 0.618) % count if count else 0
    return [(start + i) % count for i in range(count)]


class UnlearnMethod(Method):
    """One approximate-unlearning method: ``unlearn(net, data, ctx)`` edits a copy of the original."""

    def stages(self, ctx: RunContext) -> list[Stage]:
        ctx.dm.forget_rows()  # a clear error now if no forget request was given
        if ctx.condensed_path:
            check_saved_set(ctx)  # a set that does not fit this request is refused before anything trains
        return [("corrupted", None), ("retain", None), *(("shadow", i) for i in shadow_order(ctx.seed, ctx.dm.shadow_count))]

    @abstractmethod
    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        """The unlearned model (``net`` is a copy of the original, on the eval device, free to edit)."""

    def run(self, ctx: RunContext) -> MethodResult:
        """One request, or ``unlearn.rounds`` of them (spec 7.4): each later round forgets a fraction
        of what is still retained, the method continues from its own previous model, the reference
        is a retrain on that round's retain set, and clustering is done once (its time in round 0)."""
        original = ctx.net_with(ctx.runner.get("corrupted").state)
        net: nn.Module = copy.deepcopy(original)
        dm = ctx.dm
        current = dm.forget_rows()
        if ctx.condensed_path and ctx.rounds > 1:
            from unlearn.errors import ConfigError

            raise ConfigError("condensed=<dir> holds one request's set; multi-round runs (unlearn.rounds > 1) "
                              "condense every round themselves: drop condensed= and use condensation=blend")
        pool = PoolOnce(ctx)  # clustered once, on the first round whose set is not cached
        out: dict[str, float] = {}
        for r in range(ctx.rounds):
            if r > 0:
                current = next_request(dm.retain_rows(), ctx.round_fraction, ctx.seed + 1000 + r)
                dm.forget_index = torch.cat([dm.forget_rows(), current]).sort().values
                ctx.runner.forget_memo("retain")  # this round's retrain has its own key
                ctx.runner.get("retain")
            data = forget_data(ctx, current, pool)
            if r > 0:  # clustering is done once, before any request: its time is round 0's
                data.seconds_cluster = 0.0
            net, m = self._round(net, original, data, ctx, r)
            if ctx.rounds > 1:
                out.update({f"round{r}_{k}": v for k, v in m.items()})
            out.update(m)
        return MethodResult(out)

    def fit_place(self, ctx: RunContext, data: ForgetData, round_index: int) -> FitPlace:
        """Where this request's fits keep their resume point: keyed by everything that decides the
        fit (the original, the method and its settings, the rows forgotten, what it trains on)."""
        settings = {k: v for k, v in vars(self).items() if isinstance(v, (int, float, str, bool, list, tuple))}
        material = {"method": self.name, "settings": json.loads(json.dumps(settings, default=str)),
                    "original": ctx.runner.key("corrupted"), "seed": ctx.seed, "round": round_index,
                    "forgotten": _digest(ctx.dm.forget_rows()), "rows": _digest(data.rows),
                    "train": [list(data.train_x.shape), _digest(data.train_y), float(images_of(data.train_x).double().sum())],
                    "recipe": repr(recipe() if callable(recipe := getattr(self, "recipe", None)) else recipe)}
        directory = ctx.runner.artifact_dir / "unlearn" / self.name / cache_key(material)
        label = f"unlearn {self.name}" + (f" round {round_index}" if ctx.rounds > 1 else "")
        return FitPlace(single_device(ctx.runner.trainer_kwargs, ctx.device), directory, label,
                        ctx.logger.view(f"unlearn_{self.name}" + (f"_round{round_index}" if ctx.rounds > 1 else "")))

    def _round(self, start_net: nn.Module, original: nn.Module, data: ForgetData,
               ctx: RunContext, round_index: int = 0) -> tuple[nn.Module, dict[str, float]]:
        retrain = ctx.net_with(ctx.runner.get("retain").state)
        place = self.fit_place(ctx, data, round_index)
        ctx.fits = place
        view = place.view
        torch.manual_seed(ctx.seed)
        start = time.perf_counter()
        try:
            net = self.unlearn(copy.deepcopy(start_net), data, ctx)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize(ctx.device)
        finally:
            ctx.fits = None
            ctx.logger.done(view)
        # A resumed fit's seconds include its share before the kill; start-up is outside the clock.
        seconds = time.perf_counter() - start - place.startup + place.before
        attack = shadow_attack(ctx, data) if ctx.dm.shadow_count else None
        mia = {"mia_phi": ctx.mia_phi, "mia_fold": ctx.mia_fold}
        m = scores(net, data, ctx.seed, attack, **mia)
        ref = scores(retrain, data, ctx.seed, attack, **mia)
        out = {**m, **{f"original_{k}": v for k, v in scores(original, data, ctx.seed, attack, **mia).items()},
               **{f"retrain_{k}": v for k, v in ref.items()},
               **{f"{k}_gap_to_retrain": abs(m[k] - ref[k]) for k in (*METRICS, "mia_lira") if k in m}}
        if attack is not None:  # the attack's own cost: the shadow trainings (cached after the first run)
            out["seconds_shadows"] = sum(ctx.runner.get("shadow", i).seconds for i in range(ctx.dm.shadow_count))
        out.update(seconds_unlearn=self.seconds(seconds, ctx), seconds_condense=data.seconds_condense,
                   seconds_cluster=data.seconds_cluster, seconds_retrain=ctx.runner.get("retain").seconds,
                   forget_images=float(len(data.forget)), retain_images=float(len(data.retain)),
                   train_images=float(data.train_y.numel()))
        out.update(self.own_metrics())
        return net, out

    def seconds(self, measured: float, ctx: RunContext) -> float:
        return measured

    def own_metrics(self) -> dict[str, float]:
        """What this method measured about its own last call (sparsity, dampened fraction, ...)."""
        return {}


def recipe(epochs: int, lr: float, batch_size: int = 64, optimizer: str = "sgd", momentum: float = 0.9,
           weight_decay: float = 5e-4, warmup: int = 0) -> Recipe:
    """A per-epoch warm-up + cosine recipe (``warmup`` 0: plain cosine), the baselines' schedule (spec 5.1):
    the reference's warm-up multiplies lr by (e + 1) / W, so the first epoch already trains at lr / W."""
    return method_recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer=optimizer,
                         momentum=float(momentum), weight_decay=float(weight_decay), warmup=int(warmup), warmup_offset=1)


def milestone_sgd(epochs: int, lr: float, batch_size: int, momentum: float, weight_decay: float,
                  milestones: list[int] | tuple[int, ...]) -> Recipe:
    """SGD with the reference's MultiStepLR (x0.1 at each milestone), no warm-up: the sparsity baselines'."""
    return method_recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer="sgd",
                         momentum=float(momentum), weight_decay=float(weight_decay), warmup=0,
                         milestones=[int(x) for x in milestones], gamma=0.1)

"""What every approximate-unlearning method shares: the forget request's data, the metrics, timing.

A method starts from the original model (the ``corrupted`` stage, trained on the whole train
split; with ``corruption=none`` it is the clean original) and returns the unlearned model. The
retrained model (stage ``retain``: a fresh model trained on the retain set) is the reference
every number is compared with (``*_gap_to_retrain``: the absolute difference).

Metrics follow the Blend/A-AMU spec section 7: accuracy on the forget set, the real retain
set (even when the method trained on a condensed one) and the evaluation part of the test set;
``mia`` is the paper's folded logistic-regression AUC of the LiRA statistic, forget vs
evaluation images of the forget classes (50 = indistinguishable); ``mia_loss`` a loss-threshold
AUC on the same pair; with ``unlearn.shadows=S``, ``mia_lira`` is the per-example shadow-model
attack (eval/lira.py). With Blend, ``free_retain_acc`` / ``residual_retain_acc`` split retain
accuracy by whether an image's cluster held a forget sample (the Section 4.4 ablation's metrics).
``seconds_unlearn`` times the method's own call only; condensation is ``seconds_condense`` (plus
``seconds_cluster`` for Blend's one-off k-means), never mixed in.
"""

from __future__ import annotations

import copy
import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.data.corruption import Corrupted
from unlearn.eval.evalset import EvalSet, logits, top1
from unlearn.eval.lira import ShadowAttack
from unlearn.eval.mia import folded_forget_auc, loss_threshold_auc
from unlearn.methods.base import Method, MethodResult, Stage
from unlearn.models.module import Recipe

if TYPE_CHECKING:
    from unlearn.condense import Pool

METRICS = ("forget_acc", "retain_acc", "test_acc", "mia", "mia_loss")


@dataclass
class ForgetData:
    forget: EvalSet
    retain: EvalSet        # the real retain set: what retain_acc is measured on
    unseen: EvalSet        # in-distribution non-members a method may sample (A-AMU)
    evaluation: EvalSet    # test accuracy and the membership attacks; never trained on
    train_x: Tensor        # what a method trains on as "retain": the retain set or its condensation
    train_y: Tensor
    rows: Tensor           # the forget images' rows in the train split (what shadow models saw)
    seconds_condense: float = 0.0
    seconds_cluster: float = 0.0
    # With Blend: which retain images are free / residual (masks over ``retain``), for the
    # ablation's free- and residual-retain accuracies.
    free_mask: Tensor | None = None
    residual_mask: Tensor | None = None


def _materialise(ctx: RunContext, split: Corrupted) -> EvalSet:
    return EvalSet.from_loader(ctx.dm.loader(split, train=False), ctx.device)


def forget_data(ctx: RunContext, current: Tensor | None = None, pool: Pool | None = None) -> ForgetData:
    """The data of one request. ``current``: the rows forgotten now (default: all of
    ``dm.forget_rows()``, which in multi-round runs is every row forgotten so far). With a
    condenser, ``pool`` is the clustered training pool; ``None`` clusters it now (timed apart)."""
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
        if pool is None:
            pool, data.seconds_cluster = clustered_pool(ctx)
        t1 = time.perf_counter()
        # Every row forgotten so far: a cluster that ever held one stays residual (spec 7.4).
        if ctx.ablation:
            from unlearn.condense.ablation import ablation_set

            cset = ablation_set(ctx.condenser, pool, dm.forget_rows(), ctx.ablation)
        else:
            cset = ctx.condenser.condense(pool, dm.forget_rows())
        data.seconds_condense = time.perf_counter() - t1
        data.train_x, data.train_y = cset.images.to(ctx.device), cset.labels.to(ctx.device)
        if ctx.condenser.name == "blend":
            from unlearn.condense.ablation import halves

            h, retained = halves(ctx.condenser, pool, dm.forget_rows()), dm.retain_rows()
            data.free_mask = torch.isin(retained, h.free).to(ctx.device)
            data.residual_mask = torch.isin(retained, h.residual).to(ctx.device)
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


def clustered_pool(ctx: RunContext) -> tuple[Pool, float]:
    """The whole training split as a condensation pool, prepared once before any request
    (Blend's clustering); returns it and the seconds that preparation took."""
    from unlearn.condense import Pool

    train = _materialise(ctx, ctx.dm.train)
    pool = Pool(train.x.cpu(), train.y.cpu(), torch.arange(len(train)), ctx.dm.num_classes)
    ctx.condenser.device = ctx.device
    t0 = time.perf_counter()
    ctx.condenser.prepare(pool)
    return pool, time.perf_counter() - t0


def next_request(retained: Tensor, fraction: float, seed: int) -> Tensor:
    """A round's new forget rows: a seeded random ``fraction`` of the rows still retained (spec 7.4:
    the first 10% of the previous round's shuffled retain list)."""
    gen = torch.Generator().manual_seed(seed)
    count = max(1, round(fraction * retained.numel()))
    return retained[torch.randperm(retained.numel(), generator=gen)[:count]].sort().values


def shadow_attack(ctx: RunContext, data: ForgetData) -> ShadowAttack:
    """LiRA's shadow statistics for this request (the shadows train once, cached like any stage)."""
    nets = [ctx.net_with(ctx.runner.get("shadow", i).state) for i in range(ctx.dm.shadow_count)]
    return ShadowAttack.build(nets, data.forget, ctx.dm.shadow_members()[:, data.rows], data.evaluation)


def scores(net: nn.Module, data: ForgetData, seed: int, attack: ShadowAttack | None = None,
           mia_phi: str = "exact", mia_fold: str = "forget_classes") -> dict[str, float]:
    """Every metric of one model on one request; ``mia_phi`` / ``mia_fold`` pick the paper MIA's
    variant (``unlearn.mia_phi`` / ``unlearn.mia_fold``: ours, or the reference code's)."""
    # One forward pass per split; every metric below reads these.
    forget, evaluation = data.forget, data.evaluation
    on_forget, on_eval = logits(net, forget), logits(net, evaluation)
    right = (logits(net, data.retain).argmax(dim=1) == data.retain.y).float()
    in_classes = torch.isin(evaluation.y, forget.y.unique())
    member = F.cross_entropy(on_forget, forget.y.long(), reduction="none")
    nonmember = F.cross_entropy(on_eval, evaluation.y.long(), reduction="none")[in_classes]
    out = {
        "forget_acc": top1(on_forget, forget.y),
        "retain_acc": float(right.mean()),
        "test_acc": top1(on_eval, evaluation.y),
        "mia": folded_forget_auc(on_forget, forget.y, on_eval, evaluation.y, seed, phi=mia_phi,
                                 swap_full_heldout=mia_fold == "test"),
        "mia_loss": loss_threshold_auc(member, nonmember),
    }
    if attack is not None:
        out["mia_lira"] = attack.auc_of(on_forget, forget.y, on_eval, evaluation.y)
    for name, mask in (("free_retain_acc", data.free_mask), ("residual_retain_acc", data.residual_mask)):
        if mask is not None:
            out[name] = float(right[mask].mean()) if bool(mask.any()) else float("nan")
    return out


class UnlearnMethod(Method):
    """One approximate-unlearning method: ``unlearn(net, data, ctx)`` edits a copy of the original."""

    def stages(self, ctx: RunContext) -> list[Stage]:
        ctx.dm.forget_rows()  # a clear error now if no forget request was given
        if ctx.condensed_path:
            check_saved_set(ctx)  # a set that does not fit this request is refused before anything trains
        return [("corrupted", None), ("retain", None), *(("shadow", i) for i in range(ctx.dm.shadow_count))]

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
        pool, seconds_cluster = clustered_pool(ctx) if condensing(ctx) and not ctx.condensed_path else (None, 0.0)
        out: dict[str, float] = {}
        for r in range(ctx.rounds):
            if r > 0:
                current = next_request(dm.retain_rows(), ctx.round_fraction, ctx.seed + 1000 + r)
                dm.forget_index = torch.cat([dm.forget_rows(), current]).sort().values
                ctx.runner.forget_memo("retain")  # this round's retrain has its own key
                ctx.runner.get("retain")
            data = forget_data(ctx, current, pool)
            if not ctx.condensed_path:  # a saved set reports its own build times
                data.seconds_cluster = seconds_cluster if r == 0 else 0.0  # later rounds re-sample and re-blend
            net, m = self._round(net, original, data, ctx)
            if ctx.rounds > 1:
                out.update({f"round{r}_{k}": v for k, v in m.items()})
            out.update(m)
        return MethodResult(out)

    def _round(self, start_net: nn.Module, original: nn.Module, data: ForgetData,
               ctx: RunContext) -> tuple[nn.Module, dict[str, float]]:
        retrain = ctx.net_with(ctx.runner.get("retain").state)
        torch.manual_seed(ctx.seed)
        start = time.perf_counter()
        net = self.unlearn(copy.deepcopy(start_net), data, ctx)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        seconds = time.perf_counter() - start
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
    return Recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer=optimizer,
                  momentum=float(momentum), weight_decay=float(weight_decay), warmup=int(warmup), warmup_offset=1)

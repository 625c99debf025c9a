"""CUTS: subtract the task vector of a deliberately 100%-corrupted proxy fine-tune (spec 4-5).

theta(alpha) = theta_corrupted + alpha * tau, tau = mean_s (theta_proxy_s - theta_corrupted),
alpha < 0. alpha is fixed by the user, or chosen without labels: KNN self-agreement on the
clean held-out images for label noise; the first alpha whose proxy attack success rate is
at most ``asr_threshold`` for poison.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from unlearn import taskvec
from unlearn.context import RunContext
from unlearn.errors import ConfigError, bad_value
from unlearn.eval.evalset import accuracy, normalised_features, recovery
from unlearn.methods.base import Method, MethodResult
from unlearn.methods.knn_alpha import default_k, search_alpha
from unlearn.registry import METHODS

SELECTIONS = ("auto", "knn", "asr")


def grid(spec: Sequence[float]) -> list[float]:
    """``[start, stop, num]`` -> the reference's rounded linspace (steps of 0.05 by default)."""
    start, stop, num = spec
    return [round(float(a), 2) + 0.0 for a in np.linspace(float(start), float(stop), int(num))]


@METHODS.register("cuts")
class CUTS(Method):
    name = "cuts"

    def __init__(
        self,
        alpha: float | None = None,
        selection: str = "auto",
        proxy_seeds: Sequence[int] = (12, 10),
        knn_grid: Sequence[float] = (0.0, -4.0, 81),
        knn_k: int | None = None,
        coverage: float = 1.0,
        patience: int = 10,
        poison_grid: Sequence[float] = (-0.05, -6.0, 120),
        asr_threshold: float = 0.01,
        curve_grid: Sequence[float] | None = (-0.05, -5.0, 100),
        random_seed: int = 20,
    ) -> None:
        if selection not in SELECTIONS:
            raise bad_value("method.selection", selection, SELECTIONS)
        if alpha is not None and float(alpha) > 0:
            raise bad_value("method.alpha", alpha, "a number <= 0 (CUTS subtracts the proxy vector)")
        if not proxy_seeds:
            raise bad_value("method.proxy_seeds", proxy_seeds, "at least one seed")
        self.alpha = None if alpha is None else float(alpha)
        self.selection = selection
        self.proxy_seeds = [int(s) for s in proxy_seeds]
        self.knn_grid, self.poison_grid = grid(knn_grid), grid(poison_grid)
        self.curve_grid = grid(curve_grid) if curve_grid else []
        self.knn_k, self.coverage, self.patience = knn_k, float(coverage), int(patience)
        self.asr_threshold = float(asr_threshold)
        self.random_seed = int(random_seed)

    def stages(self, ctx: RunContext) -> list[tuple[str, int | None]]:
        if ctx.corruption.kind == "none":
            raise ConfigError("method=cuts needs a corrupted model: set corruption=symmetric, asymmetric, poison "
                              "(or real for a dataset with real label noise)")
        oracle = [("oracle", None)] if ctx.corruption.has_clean_train else []
        return [("corrupted", None), *oracle, *(("proxy", s) for s in self.proxy_seeds)]

    def run(self, ctx: RunContext) -> MethodResult:
        kind = ctx.corruption.kind
        self.stages(ctx)  # validates the corruption
        seconds: dict[str, float] = {}
        corrupted = ctx.runner.get("corrupted")
        # Real-world noise (Clothing1M) has no clean training set, hence no oracle and no recovery.
        oracle = ctx.runner.get("oracle") if ctx.corruption.has_clean_train else None
        proxies = [ctx.runner.get("proxy", s) for s in self.proxy_seeds]
        seconds.update(corrupted=corrupted.seconds, proxy=sum(p.seconds for p in proxies))
        if oracle is not None:
            seconds["oracle"] = oracle.seconds

        net = ctx.net_with(corrupted.state)
        exclude = net.tv_exclude
        tau = taskvec.mean_vector([taskvec.task_vector(corrupted.state, p.state, exclude) for p in proxies])

        def at(alpha: float, vector: taskvec.TaskVector = tau):
            net.load_state_dict(taskvec.apply(corrupted.state, vector, alpha))
            return net

        start = time.perf_counter()
        curves: dict[str, object] = {}
        selection = self.selection if self.selection != "auto" else ("asr" if kind == "poison" else "knn")
        if self.alpha is not None:
            alpha, selection = self.alpha, "fixed"
        elif selection == "knn":
            alpha = self._knn(ctx, at, curves)
        else:
            alpha = self._first_below_threshold(ctx, at, curves)
        seconds["alpha_selection"] = time.perf_counter() - start

        test = ctx.evalset("test")
        m: dict[str, float] = {"alpha": alpha, "tau_norm": taskvec.norm(tau)}
        m["corrupted_clean_acc"] = accuracy(at(0.0), test)
        m["clean_acc"] = accuracy(at(alpha), test)
        if kind != "real":  # which training labels are wrong is known only for synthetic corruption
            noisy = ctx.evalset("train_corrupted")
            m["noisy_train_acc_corrupted"] = accuracy(at(0.0), noisy, "y_true")
            m["noisy_train_acc"] = accuracy(at(alpha), noisy, "y_true")
        if oracle is not None:
            m["oracle_clean_acc"] = accuracy(ctx.net_with(oracle.state), test)
            m["recovery"] = recovery(m["clean_acc"], m["corrupted_clean_acc"], m["oracle_clean_acc"])
        if kind == "poison":
            for split, key in (("train_corrupted", "asr"), ("proxy_triggered", "proxy_asr"), ("test_triggered", "test_asr")):
                m[key] = accuracy(at(alpha), ctx.evalset(split))
                m[f"corrupted_{key}"] = accuracy(at(0.0), ctx.evalset(split))
            # Poison utility score (spec 7): recovery means little when the backdoor barely
            # costs clean accuracy, so poison rows are compared on acc x (1 - ASR).
            m["pus"] = m["clean_acc"] * (1.0 - m["asr"])
            m["corrupted_pus"] = m["corrupted_clean_acc"] * (1.0 - m["corrupted_asr"])
        random = taskvec.random_like(tau, self.random_seed)
        m["random_clean_acc"] = accuracy(at(alpha, random), test)

        if self.curve_grid:
            curves["curve_alpha"] = self.curve_grid
            curves["curve_test_acc"] = [accuracy(at(a), test) for a in self.curve_grid]
            if kind == "poison":
                curves["curve_proxy_asr"] = [accuracy(at(a), ctx.evalset("proxy_triggered")) for a in self.curve_grid]
        m.update({f"seconds_{k}": v for k, v in seconds.items()})
        curves["selection"] = selection
        return MethodResult(m, curves)

    def _knn(self, ctx: RunContext, at, curves: dict) -> float:
        support = ctx.evalset("heldout")  # clean held-out images; their labels are never read
        num_classes = ctx.dm.num_classes
        k = self.knn_k or default_k(len(support), num_classes)
        result = search_alpha(self.knn_grid, lambda a: normalised_features(at(a), support), k,
                              num_classes, self.coverage, self.patience)
        curves["knn_alpha"], curves["knn_score"] = list(result.scores), list(result.scores.values())
        return result.alpha

    def _first_below_threshold(self, ctx: RunContext, at, curves: dict) -> float:
        proxy = ctx.evalset("proxy_triggered")
        scanned: list[tuple[float, float]] = []
        for a in self.poison_grid:
            asr = accuracy(at(a), proxy)
            scanned.append((a, asr))
            if round(asr, 2) <= self.asr_threshold:
                break
        curves["scan_alpha"], curves["scan_proxy_asr"] = [a for a, _ in scanned], [s for _, s in scanned]
        a, asr = scanned[-1]
        if round(asr, 2) > self.asr_threshold:
            # The reference crashed here (spec 12); take the scanned alpha with the lowest ASR instead.
            a = min(scanned, key=lambda t: (t[1], -t[0]))[0]
        return a

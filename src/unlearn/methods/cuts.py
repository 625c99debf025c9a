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
from unlearn.eval.evalset import accuracy, normalised_features
from unlearn.eval.outcome import model_metrics, outcome
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
        trajectory_frames: int = 0,
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
        if int(trajectory_frames) < 0:
            raise bad_value("method.trajectory_frames", trajectory_frames, "0 (off) or a number of frames")
        self.trajectory_frames = int(trajectory_frames)

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
        corrupted_m = model_metrics(ctx, at(0.0))
        corrected_m = model_metrics(ctx, at(alpha))
        oracle_acc = accuracy(ctx.net_with(oracle.state), test) if oracle is not None else None
        m: dict[str, float] = {"alpha": alpha, "tau_norm": taskvec.norm(tau),
                               **outcome(corrected_m, corrupted_m, oracle_acc)}
        random = taskvec.random_like(tau, self.random_seed)
        m["random_clean_acc"] = accuracy(at(alpha, random), test)

        if self.curve_grid:
            curves["curve_alpha"] = self.curve_grid
            curves["curve_test_acc"] = [accuracy(at(a), test) for a in self.curve_grid]
            if kind == "poison":
                curves["curve_proxy_asr"] = [accuracy(at(a), ctx.evalset("proxy_triggered")) for a in self.curve_grid]
        if self.trajectory_frames:
            curves["trajectory"] = self._trajectory(ctx, at, alpha)
        m.update({f"seconds_{k}": v for k, v in seconds.items()})
        curves["selection"] = selection
        return MethodResult(m, curves)

    def _trajectory(self, ctx: RunContext, at, alpha: float) -> str:
        """Penultimate test features from alpha 0 to the chosen alpha, as a PCA GIF (spec 7)."""
        from unlearn.eval.trajectory import feature_trajectory, log_trajectory

        alphas = [float(a) for a in np.linspace(0.0, alpha, self.trajectory_frames)]
        title = f"CUTS, {ctx.dm.name} {ctx.corruption.kind} {ctx.corruption.rate:g}"
        paths = feature_trajectory(at, ctx.evalset("test"), alphas, ctx.run_dir, ctx.dm.source.class_names,
                                   title=title, seed=self.random_seed)
        log_trajectory(ctx.logger, paths, key="cuts/pca_evol")
        return str(paths["gif"])

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

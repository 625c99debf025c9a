"""CUTS: subtract the task vector of a deliberately 100%-corrupted proxy fine-tune (spec 4-5).

theta(alpha) = theta_corrupted + alpha * tau, tau = mean_s (theta_proxy_s - theta_corrupted),
alpha < 0. alpha is fixed by the user, or chosen without labels: KNN self-agreement on the
clean held-out images for label noise; the first alpha whose proxy attack success rate is
at most ``asr_threshold`` for poison.

Every run writes the tau it subtracted to ``tau.safetensors`` (arch, proxy seeds and the
corrupted model's key in its metadata); ``method.tau=<file>`` subtracts such a saved vector
from this run's corrupted model instead of fine-tuning proxies, for task-vector research
across runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from unlearn import taskvec
from unlearn.context import RunContext
from unlearn.errors import ConfigError, bad_value
from unlearn.eval.evalset import accuracy, normalised_features, recovery
from unlearn.correction.outcome import model_metrics, outcome
from unlearn.method import Method, MethodResult
from unlearn.correction.knn_alpha import default_k, search_alpha
from unlearn.registry import METHODS

SELECTIONS = ("auto", "knn", "asr")


def grid(spec: Sequence[float]) -> list[float]:
    """``[start, stop, num]`` -> the reference's rounded linspace (steps of 0.05 by default)."""
    start, stop, num = spec
    return [round(float(a), 2) + 0.0 for a in np.linspace(float(start), float(stop), int(num))]


@METHODS.register("cuts")
class CUTS(Method):
    name = "cuts"
    uses_heldout = True

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
        tau: str | None = None,
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
        if knn_k is not None and (isinstance(knn_k, bool) or not isinstance(knn_k, int) or knn_k < 1):
            raise bad_value("method.knn_k", knn_k, "null (floor(|heldout| / K / 2)) or a positive number of neighbours")
        if not 0.0 < float(coverage) <= 1.0:
            raise bad_value("method.coverage", coverage, "a fraction of the classes in (0, 1]")
        if int(patience) < 1:
            raise bad_value("method.patience", patience, "a positive number of grid points")
        if not 0.0 <= float(asr_threshold) <= 1.0:
            raise bad_value("method.asr_threshold", asr_threshold, "a fraction in [0, 1]")
        self.knn_k, self.coverage, self.patience = knn_k, float(coverage), int(patience)
        self.asr_threshold = float(asr_threshold)
        self.random_seed = int(random_seed)
        if int(trajectory_frames) < 0:
            raise bad_value("method.trajectory_frames", trajectory_frames, "0 (off) or a number of frames")
        self.trajectory_frames = int(trajectory_frames)
        self.tau = None if tau in (None, "") else str(tau)
        self._saved_tau: tuple[taskvec.TaskVector, dict] | None = None

    def stages(self, ctx: RunContext) -> list[tuple[str, int | None]]:
        if ctx.corruption.kind == "none":
            raise ConfigError("method=cuts needs a corrupted model: set corruption=symmetric, asymmetric, poison "
                              "(or real for a dataset with real label noise)")
        oracle = [("oracle", None)] if ctx.corruption.has_clean_train else []
        if self.tau is not None:
            self._load_tau(ctx)  # a file that does not fit is refused before anything trains
            return [("corrupted", None), *oracle]
        return [("corrupted", None), *oracle, *(("proxy", s) for s in self.proxy_seeds)]

    def _load_tau(self, ctx: RunContext) -> tuple[taskvec.TaskVector, dict]:
        if self._saved_tau is None:
            net = ctx.build_net()
            state = net.state_dict()
            expected = {k: state[k] for k in taskvec.vector_keys(state, net.tv_exclude)}
            self._saved_tau = taskvec.load_vector(self.tau, net.arch, expected)
        return self._saved_tau

    def run(self, ctx: RunContext) -> MethodResult:
        kind = ctx.corruption.kind
        self.stages(ctx)  # validates the corruption
        seconds: dict[str, float] = {}
        corrupted = ctx.runner.get("corrupted")
        # Real-world noise (Clothing1M) has no clean training set, hence no oracle and no recovery.
        oracle = ctx.runner.get("oracle") if ctx.corruption.has_clean_train else None
        seconds["corrupted"] = corrupted.seconds
        if oracle is not None:
            seconds["oracle"] = oracle.seconds
        net = ctx.net_with(corrupted.state)
        if self.tau is None:
            proxies = [ctx.runner.get("proxy", s) for s in self.proxy_seeds]
            seconds["proxy"] = sum(p.seconds for p in proxies)
            tau = taskvec.mean_vector([taskvec.task_vector(corrupted.state, p.state, net.tv_exclude)
                                       for p in proxies])
            provenance = {"source": "proxies", "proxy_seeds": self.proxy_seeds}
        else:
            tau, saved = self._load_tau(ctx)
            provenance = {"source": self.tau, "proxy_seeds": saved.get("proxy_seeds"),
                          "made_from_corrupted": saved.get("corrupted")}
        taskvec.save_vector(ctx.run_dir / "tau.safetensors", tau, net.arch, {
            **provenance, "corrupted": ctx.runner.key("corrupted"), "dataset": ctx.dm.name,
            "corruption": {"kind": ctx.corruption.kind, "rate": ctx.corruption.rate}})

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
            else:  # for poison the clean-accuracy peak sits at alpha ~ 0, where the backdoor is intact
                m.update(self._curve_best(curves, m))
        if self.trajectory_frames:
            curves["trajectory"] = self._trajectory(ctx, at, alpha)
        m.update({f"seconds_{k}": v for k, v in seconds.items()})
        curves["selection"] = selection
        if self.tau is not None:
            curves["tau"] = self.tau
        return MethodResult(m, curves)

    @staticmethod
    def _curve_best(curves: dict, m: dict[str, float]) -> dict[str, float]:
        """The best test accuracy on the alpha curve: an upper bound that reads the test labels,
        reported beside the label-free choice to show what the estimator leaves on the table."""
        i = int(np.argmax(curves["curve_test_acc"]))
        best = {"curve_best_alpha": curves["curve_alpha"][i], "curve_best_clean_acc": curves["curve_test_acc"][i]}
        if "oracle_clean_acc" in m:
            best["curve_best_recovery"] = recovery(best["curve_best_clean_acc"], m["corrupted_clean_acc"],
                                                   m["oracle_clean_acc"])
        return best

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

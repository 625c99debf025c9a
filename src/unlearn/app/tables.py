"""Paper tables from sweeps: expand a table's sweeps into jobs, and pivot finished runs into rows.

A run is identified by the group choices Hydra recorded (``.hydra/hydra.yaml``) plus the
overrides it was given; one row per setting (dataset, arch, corruption setting, other swept
keys except the method and seeds), one column group per method. Runs that differ only in
their seed are averaged (mean +- std), so a multi-seed sweep gives the paper's format.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from unlearn.app.condensed_montage import CONDENSER_ORDER, montage

# Swept keys that are not part of a row's identity.
NOT_ROW_KEYS = ("method", "seed", "dataset.seed")
METHOD_ORDER = ("oracle", "cf", "cuts", "sap", "potion")
ROW_GROUPS = ("dataset", "arch", "setting", "corruption")


def load_tables(path: Path) -> dict[str, dict[str, Any]]:
    return yaml.safe_load(Path(path).read_text())


def expand(sweep: str) -> list[list[str]]:
    """``a=1,2 b=x`` -> [[a=1, b=x], [a=2, b=x]]: the jobs Hydra's basic sweeper makes of it."""
    options = []
    for item in sweep.split():
        key, _, values = item.partition("=")
        options.append([f"{key}={v}" for v in values.split(",")])
    return [list(job) for job in itertools.product(*options)]


def _run_identity(run_dir: Path) -> dict[str, str]:
    hydra = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]
    ident = {k: str(v) for k, v in hydra["runtime"]["choices"].items()
             if k in ("dataset", "arch", "setting", "corruption", "condensation", "forget") and v is not None}
    for item in hydra["overrides"]["task"]:
        key, _, value = item.partition("=")
        if key not in ("experiment", "hydra.sweep.dir") and not key.startswith("hydra"):
            ident[key.lstrip("+")] = value
    return ident


def collect(sweep_root: Path) -> list[tuple[dict[str, str], dict[str, float]]]:
    """(identity, metrics) of every finished run under ``sweep_root`` (any depth)."""
    runs = []
    for metrics_file in sorted(Path(sweep_root).rglob("metrics.json")):
        run_dir = metrics_file.parent
        if (run_dir / ".hydra" / "hydra.yaml").is_file():
            runs.append((_run_identity(run_dir), json.loads(metrics_file.read_text())))
    return runs


def _mean_std(values: list[float], scale: float, digits: int) -> str:
    """mean +- std over seeds (one value as it is), nan and missing values left out."""
    values = [scale * v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def _fmt(values: list[float]) -> str:
    """Fractions, in percent."""
    return _mean_std(values, 100.0, 1)


def _plain(values: list[float]) -> str:
    """Numbers that are not fractions (alpha), as they are."""
    return _mean_std(values, 1.0, 2)


def _seconds(values: list[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return f"{statistics.mean(values):.1f}" if values else ""


def _count(values: list[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return f"{statistics.mean(values):.0f}" if values else ""


def pivot_condensation(runs: list[tuple[Mapping[str, str], Mapping[str, float]]]) -> tuple[list[str], list[list[str]]]:
    """condense.py runs: one row per (dataset, forget, ipc, ...), per method its test accuracy,
    its size, its build time (clustering + condensation, seconds) and, for iterative methods, the
    iterations it ran."""
    values: dict[str, set[str]] = {}
    for ident, _ in runs:
        for k, v in ident.items():
            values.setdefault(k, set()).add(v)
    skip = ("condensation", "seed", "arch", "corruption", "setting")
    row_keys = [k for k in values if k not in skip and (k in ("dataset", "forget", "ipc") or len(values[k]) > 1)
                and not k.startswith(("condensation.", "evaluate."))]
    row_keys.sort(key=lambda k: (("dataset", "forget", "ipc", k)).index(k))
    groups: dict[tuple, dict[str, list[Mapping[str, float]]]] = {}
    for ident, metrics in runs:
        row = tuple((k, ident.get(k, "")) for k in row_keys)
        groups.setdefault(row, {}).setdefault(ident.get("condensation", "?"), []).append(metrics)
    methods = sorted({m for g in groups.values() for m in g}, key=lambda m: (*CONDENSER_ORDER, m).index(m))
    # Iterations where a method has them: DM / IDM / GM on a wall-clock budget differ in how many they got.
    iterative = {m for g in groups.values() for m, rs in g.items() if any("iterations" in r for r in rs)}
    header = row_keys + [f"{m} {c}" for m in methods
                         for c in ("acc", "images", "s", "it")[:4 if m in iterative else 3]]
    rows = []
    for row, by_method in sorted(groups.items()):
        cells = [v for _, v in row]
        for m in methods:
            rs = by_method.get(m, [])
            cells += [_fmt([r.get("test_acc") for r in rs]), _count([r.get("images") for r in rs]),
                      _seconds([r.get("seconds_cluster", 0.0) + r.get("seconds_build", 0.0) for r in rs])]
            if m in iterative:
                cells.append(_count([r.get("iterations") for r in rs]))
        rows.append(cells)
    return header, rows


UNLEARN_ORDER = ("retrain", "finetune", "neggrad", "kd", "scrub", "bad_teacher", "l1_sparse", "prune", "ssd",
                 "fisher", "ntk", "aamu_cf", "aamu_sparse", "aamu_scrub")


def _rounds(ident: Mapping[str, str], metrics: Mapping[str, float]) -> list[tuple[dict[str, str], dict[str, float]]]:
    rounds = sorted({int(k[5:].split("_", 1)[0]) for k in metrics if k.startswith("round") and "_" in k})
    if not rounds:
        return [(dict(ident), dict(metrics))]
    return [({**ident, "round": str(r)}, {k.split("_", 1)[1]: v for k, v in metrics.items()
                                          if k.startswith(f"round{r}_")}) for r in rounds]


def pivot_unlearning(runs: list[tuple[Mapping[str, str], Mapping[str, float]]]) -> tuple[list[str], list[list[str]]]:
    """Approximate-unlearning runs: one row per (setting, method) with the paper's columns:
    forget / retain / test accuracy and MIA (percent), seconds to unlearn and to condense.
    A multi-round run (``round<r>_*`` keys) gives one row per round."""
    runs = [split for run in runs for split in _rounds(*run)]
    values: dict[str, set[str]] = {}
    for ident, _ in runs:
        for k, v in ident.items():
            values.setdefault(k, set()).add(v)
    keys = ("dataset", "arch", "forget", "condensation", "round")
    row_keys = [k for k in values if k not in ("method", "seed", "corruption")
                and (k in keys or len(values[k]) > 1)]
    row_keys.sort(key=lambda k: (keys + (k,)).index(k))
    groups: dict[tuple, list[Mapping[str, float]]] = {}
    for ident, metrics in runs:
        row = tuple(ident.get(k, "") for k in row_keys) + (ident.get("method", ""),)
        groups.setdefault(row, []).append(metrics)
    # Blend runs also report accuracy on the free / residual retain images (the Section 4.4 ablation).
    lira = any("mia_lira" in m for _, m in runs)  # the optional shadow-model attack (unlearn.shadows=S)
    halves = ("free_retain_acc", "residual_retain_acc") if any("free_retain_acc" in m for _, m in runs) else ()
    header = row_keys + ["method", "forget acc", "retain acc", "test acc",
                         *(k.replace("_acc", " acc").replace("_", " ") for k in halves),
                         "MIA", "MIA (loss)", *(["MIA (LiRA)"] if lira else []), "forget gap", "test gap",
                         "MIA gap", *(["LiRA gap"] if lira else []), "s unlearn", "x retrain", "s condense"]
    percent = ("forget_acc", "retain_acc", "test_acc", *halves)
    rows = []
    for row in sorted(groups, key=lambda r: (r[:-1], (UNLEARN_ORDER + (r[-1],)).index(r[-1]))):
        rs = groups[row]
        cells = list(row)
        cells += [_fmt([r.get(k) for r in rs]) for k in percent]
        cells += [_fmt([r.get(k) / 100 for r in rs if r.get(k) is not None])
                  for k in ("mia", "mia_loss", *(["mia_lira"] if lira else []))]
        cells += [_fmt([r.get("forget_acc_gap_to_retrain") for r in rs]), _fmt([r.get("test_acc_gap_to_retrain") for r in rs])]
        cells += [_fmt([r.get(k) / 100 for r in rs if r.get(k) is not None])
                  for k in ("mia_gap_to_retrain", *(["mia_lira_gap_to_retrain"] if lira else []))]
        # Time as a multiple of the full retrain's (the stage every request trains once), measured in the same run.
        cells += [_seconds([r.get("seconds_unlearn") for r in rs]),
                  _plain([r["seconds_unlearn"] / r["seconds_retrain"] for r in rs
                          if r.get("seconds_unlearn") is not None and r.get("seconds_retrain")]),
                  _seconds([r.get("seconds_condense", 0.0) + r.get("seconds_cluster", 0.0) for r in rs])]
        rows.append(cells)
    return header, rows


def pivot(runs: Iterable[tuple[Mapping[str, str], Mapping[str, float]]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (numbers in percent): corrupted / oracle, then per method accuracy,
    recovery rate, and for poison ASR and the utility score acc x (1 - ASR)."""
    runs = list(runs)
    if any("compression" in m for _, m in runs):
        return pivot_condensation(runs)
    if any("forget_acc" in m for _, m in runs):
        return pivot_unlearning(runs)
    groups: dict[tuple, dict[str, list[Mapping[str, float]]]] = {}
    # A row is named by the group choices and by whatever else was swept (differs between runs);
    # overrides every run shares (logger, trainer flags, short recipes) say nothing about a row.
    values: dict[str, set[str]] = {}
    for ident, _ in runs:
        for k, v in ident.items():
            values.setdefault(k, set()).add(v)
    row_keys = [k for k in values if k not in NOT_ROW_KEYS
                and (k in ROW_GROUPS or len(values[k]) > 1)
                and not (k == "corruption" and "setting" in values)]
    row_keys.sort(key=lambda k: (ROW_GROUPS + (k,)).index(k))
    for ident, metrics in runs:
        row = tuple((k, ident.get(k, "")) for k in row_keys)
        groups.setdefault(row, {}).setdefault(ident.get("method", "cuts"), []).append(metrics)
    methods = sorted({m for g in groups.values() for m in g}, key=lambda m: (METHOD_ORDER + (m,)).index(m))
    every_metric = {k for g in groups.values() for rs in g.values() for r in rs for k in r}
    poison = "asr" in every_metric
    # (header, metric, the method whose runs hold it (None: the upstream models, shared by every run), format)
    # The oracle's accuracy comes with every run of its setting (method=oracle adds only its ASR).
    columns: list[tuple[str, Any, str | None, Any]] = [("corrupted", "corrupted_clean_acc", None, _fmt),
                                                        ("oracle", "oracle_clean_acc", None, _fmt)]
    if poison:
        columns += [("corrupted ASR", "corrupted_asr", None, _fmt)]
        if "oracle" in methods:  # the clean model's rate of triggered images landing in the target class
            columns += [("oracle ASR", "asr", "oracle", _fmt)]
    elif "corrupted_noisy_train_fit" in every_metric:  # how much of its noise the corrupted model memorised
        columns += [("corrupted fit", "corrupted_noisy_train_fit", None, _fmt)]
    for m in (m for m in methods if m != "oracle"):
        # Poison barely moves clean accuracy, so its recovery rate divides noise by noise: the paper
        # reports accuracy, ASR and their product there instead.
        columns += [(m, "clean_acc", m, _fmt)] + ([(f"{m} RR", "recovery", m, _fmt)] if not poison else [])
        if poison:
            columns += [(f"{m} ASR", "asr", m, _fmt), (f"{m} PUS", "pus", m, _fmt)]
        if m == "cuts":
            columns += [("cuts alpha", "alpha", m, _plain)]
            if "curve_best_clean_acc" in every_metric:  # the best alpha on the curve (reads test labels)
                columns += [("best alpha", "curve_best_alpha", m, _plain), ("best", "curve_best_clean_acc", m, _fmt),
                            ("best RR", "curve_best_recovery", m, _fmt)]
            if "random_clean_acc" in every_metric:
                columns += [("random", "random_clean_acc", m, _fmt)]
    # Every stage's and method's own seconds, where the runs report them (several keys: their sum).
    for name, keys, method in SECONDS_COLUMNS:
        if every_metric.intersection(keys):
            columns += [(name, keys, method, _seconds)]
    header = row_keys + [name for name, *_ in columns]
    rows = []
    for row, by_method in sorted(groups.items()):
        cells = [v for _, v in row]
        every = [r for rs in by_method.values() for r in rs]
        for _, metric, method, fmt in columns:
            # Upstream numbers are shared by every method's run of this setting: take one value per seed.
            source = (by_method.get("cuts") or every) if method is None else by_method.get(method, [])
            cells.append(fmt([_value(r, metric) for r in source]))
        rows.append(cells)
    return header, rows


# (header, the keys summed, the method whose runs hold them; None: the upstream stages, from any run).
SECONDS_COLUMNS = (("s corrupted", ("seconds_corrupted",), None), ("s oracle", ("seconds_oracle",), None),
                   ("s proxy", ("seconds_proxy",), "cuts"), ("s alpha", ("seconds_alpha_selection",), "cuts"),
                   ("s cf", ("seconds_cf",), "cf"), ("s sap", ("seconds_sap_fit", "seconds_sap_sweep"), "sap"),
                   ("s potion", ("seconds_importance", "seconds_search"), "potion"))


def _value(run: Mapping[str, float], metric: str | tuple[str, ...]) -> float | None:
    if isinstance(metric, str):
        return run.get(metric)
    present = [run[k] for k in metric if k in run]
    return sum(present) if present else None


def pivots(runs: Iterable[tuple[Mapping[str, str], Mapping[str, float]]]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(name, header, rows) per kind of CUTS run in the sweep: label noise and poison report
    different columns (recovery vs ASR / PUS), so a sweep holding both gets one table each."""
    runs = list(runs)
    poison = [run for run in runs if "asr" in run[1]]
    noise = [run for run in runs if "asr" not in run[1]]
    if not poison or not noise:  # only CUTS poison runs report "asr": unlearning and condensing sweeps stay one table
        return [("", *pivot(runs))]
    return [("label noise", *pivot(noise)), ("poison", *pivot(poison))]


def _legend(header: list[str]) -> str:
    if "MIA" in header:
        legend = ("Accuracy in percent; MIA: folded logistic-regression AUC of the LiRA statistic, forget vs unseen "
                  "test images of the forget classes (50 = indistinguishable); gaps: |method - retrain|; seconds apart.")
    elif any(h.endswith(" s") for h in header):
        legend = "acc: test accuracy of a net trained on the set (percent); s: clustering + condensation seconds"
    else:
        legend = "Numbers in percent; RR = recovery rate; PUS = acc x (1 - ASR)."
        if "corrupted fit" in header:
            legend += " corrupted fit: share of the corrupted training samples predicted as their wrong label."
        if "best" in header:
            legend += (" best: the best alpha on the test-accuracy curve (chosen with test labels, for reference);"
                       " random: a random vector of tau's norm at CUTS's alpha.")
        if any(h.startswith("s ") for h in header):
            legend += " s: wall-clock seconds of each stage (mean over seeds)."
    return legend


def write_table(sweep_root: Path, title: str = "") -> dict[str, Any]:
    """table.md and table.csv in ``sweep_root`` (and ``plots``: for unlearning sweeps one trade-off figure
    per forget request, for condensation sweeps the condensed sets side by side per setting); refuses
    to replace existing ones.

    A sweep of label noise and poison gets two tables in table.md and one CSV whose first
    column, ``table``, names the kind of each row (the columns are the union of both)."""
    runs = collect(sweep_root)
    blocks = [block for block in pivots(runs) if block[2]]
    if not blocks:
        raise FileNotFoundError(f"no finished runs (metrics.json + .hydra/) under {sweep_root}")
    md, csv_path = Path(sweep_root) / "table.md", Path(sweep_root) / "table.csv"
    for path in (md, csv_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwriting it")
    lines = [f"### {title}", ""] if title else []
    for name, header, rows in blocks:
        lines += [f"#### {name}", ""] if name else []
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += ["", _legend(header), ""]
    md.write_text("\n".join(lines))
    if len(blocks) == 1:
        table = [blocks[0][1], *blocks[0][2]]
    else:
        columns = list(dict.fromkeys(h for _, header, _ in blocks for h in header))
        table = [["table", *columns]] + [[name, *(dict(zip(header, r)).get(c, "") for c in columns)]
                                         for name, header, rows in blocks for r in rows]
    with open(csv_path, "w", newline="") as fh:
        csv.writer(fh).writerows(table)
    from unlearn.app.tradeoff_plot import plot_tradeoffs

    return {"md": md, "csv": csv_path, "plots": plot_tradeoffs(runs, Path(sweep_root)) + montage(Path(sweep_root))}

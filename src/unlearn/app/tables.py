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
             if k in ("dataset", "arch", "setting", "corruption") and v is not None}
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


def _fmt(values: list[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return ""
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} +- {100 * statistics.stdev(values):.1f}"


def pivot(runs: Iterable[tuple[Mapping[str, str], Mapping[str, float]]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (numbers in percent): corrupted / oracle, then per method accuracy,
    recovery rate, and for poison ASR and the utility score acc x (1 - ASR)."""
    runs = list(runs)
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
    poison = any("asr" in r for g in groups.values() for rs in g.values() for r in rs)
    columns = [("corrupted", "corrupted_clean_acc")]
    if "oracle" not in methods:
        columns += [("oracle", "oracle_clean_acc")]
    if poison:
        columns += [("corrupted ASR", "corrupted_asr")]
    for m in methods:
        columns += [(m, "clean_acc")] + ([(f"{m} RR", "recovery")] if m != "oracle" else [])
        if poison and m != "oracle":
            columns += [(f"{m} ASR", "asr"), (f"{m} PUS", "pus")]
    header = row_keys + [name for name, _ in columns]
    rows = []
    for row, by_method in sorted(groups.items()):
        cells = [v for _, v in row]
        every = [r for rs in by_method.values() for r in rs]
        for name, metric in columns:
            method = name.split()[0]
            if method in ("corrupted", "oracle") and metric != "clean_acc":
                # Shared by every method's run of this setting: take one value per seed.
                source = by_method.get("cuts") or every
            else:
                source = by_method.get(method, [])
            cells.append(_fmt([r.get(metric) for r in source]))
        rows.append(cells)
    return header, rows


def write_table(sweep_root: Path, title: str = "") -> dict[str, Path]:
    """table.md and table.csv in ``sweep_root``; refuses to replace existing ones."""
    header, rows = pivot(collect(sweep_root))
    if not rows:
        raise FileNotFoundError(f"no finished runs (metrics.json + .hydra/) under {sweep_root}")
    md, csv_path = Path(sweep_root) / "table.md", Path(sweep_root) / "table.csv"
    for path in (md, csv_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwriting it")
    lines = ([f"### {title}", ""] if title else []) + ["| " + " | ".join(header) + " |",
                                                       "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    md.write_text("\n".join(lines) + "\n\nNumbers in percent; RR = recovery rate; PUS = acc x (1 - ASR).\n")
    with open(csv_path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return {"md": md, "csv": csv_path}

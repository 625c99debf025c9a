"""What each unlearning method buys for its time: one figure per forget request of a sweep.

The Blend/A-AMU paper's claims are trade-offs (as close to retrain as possible, in a fraction of its
time), which a table of 28 rows hides and a scatter shows: test accuracy and the membership gaps to
retrain against seconds, one point per method, full retain set and Blend's condensed one side by side.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Run = tuple[Mapping[str, str], Mapping[str, float]]


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.mean(kept) if kept else None


def tradeoff_points(runs: Sequence[Run]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (dataset, forget) request: one point per (method, condensation), metrics averaged over seeds."""
    groups: dict[tuple[str, str], dict[tuple[str, str], list[Mapping[str, float]]]] = {}
    for ident, metrics in runs:
        if "seconds_unlearn" not in metrics or "round" in ident:
            continue
        request = (ident.get("dataset", ""), ident.get("forget", ""))
        point = (ident.get("method", ""), ident.get("condensation", "none"))
        groups.setdefault(request, {}).setdefault(point, []).append(metrics)
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for request, points in groups.items():
        out[request] = [{
            "method": method, "condensation": condensation,
            "seconds": _mean([m.get("seconds_unlearn") for m in ms]),
            "test_acc": _mean([m.get("test_acc") for m in ms]),
            "mia_gap": _mean([m.get("mia_gap_to_retrain") for m in ms]),
            "mia_lira_gap": _mean([m.get("mia_lira_gap_to_retrain") for m in ms]),
        } for (method, condensation), ms in sorted(points.items())]
    return out


def plot_tradeoffs(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """``tradeoff_<dataset>_<forget>.png`` per request; nothing when the sweep has no unlearning runs."""
    requests = tradeoff_points(runs)
    if not requests:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    paths = []
    for (dataset, forget), points in sorted(requests.items()):
        gaps = [("mia_gap", "MIA gap to retrain (points)")]
        if any(p["mia_lira_gap"] is not None for p in points):
            gaps.append(("mia_lira_gap", "LiRA MIA gap to retrain (points)"))
        fig, axes = plt.subplots(1, 1 + len(gaps), figsize=(5.2 * (1 + len(gaps)), 4.2), dpi=110)
        for ax, (key, label) in zip(axes, [("test_acc", "test accuracy (%)"), *gaps]):
            for p in points:
                if p["seconds"] is None or p[key] is None:
                    continue
                y = 100 * p[key] if key == "test_acc" else p[key]
                blend = p["condensation"] != "none"
                ax.scatter(p["seconds"], y, marker="^" if blend else "o", s=36,
                           color="C1" if blend else "C0", edgecolor="k" if p["method"] == "retrain" else "none")
                ax.annotate(p["method"], (p["seconds"], y), fontsize=6, xytext=(3, 2), textcoords="offset points")
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # log minor labels crowd a 1-2 decade axis
            ax.set_xlabel("seconds to unlearn (log)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3, lw=0.5)
        axes[0].scatter([], [], marker="o", color="C0", label="full retain set")
        axes[0].scatter([], [], marker="^", color="C1", label="Blend")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{dataset}, forget={forget}: each method's result against its time", fontsize=9)
        fig.tight_layout()
        paths.append(save_new_figure(fig, Path(out_dir) / f"tradeoff_{dataset}_{forget}.png"))
    return paths


def save_new_figure(fig: Any, path: Path) -> Path:
    """Write and close ``fig``; a sweep's figures, like its tables, are never overwritten."""
    import matplotlib.pyplot as plt

    if path.exists():
        raise FileExistsError(f"{path} exists; not overwriting it")
    fig.savefig(path)
    plt.close(fig)
    return path


def log_to_wandb(paths: Sequence[Path], table_md: Path, name: str) -> None:
    """One wandb run per aggregated sweep holding its figures and table (offline unless WANDB_MODE says)."""
    import os

    import wandb

    os.environ.setdefault("WANDB_MODE", "offline")
    with wandb.init(project="unlearn", job_type="aggregate", name=name, dir=str(table_md.parent)) as run:
        run.log({f"tradeoff/{p.stem.removeprefix('tradeoff_')}": wandb.Image(str(p)) for p in paths})
        run.log({"table": wandb.Html(table_md.read_text().replace("\n", "<br>"))})

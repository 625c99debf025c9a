"""What a finished job leaves behind: metrics.json, the alpha-curve plot (also sent to the logger),
a console table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unlearn.runs import write_json_new


def write_metrics(run_dir: Path, metrics: Mapping[str, float], curves: Mapping[str, Any] | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "metrics.json"
    write_json_new(path, dict(metrics))
    if curves:
        write_json_new(run_dir / "curves.json", dict(curves))
    return path


def table(metrics: Mapping[str, float], title: str) -> str:
    """A small aligned two-column table; seconds last."""
    rows = sorted(metrics.items(), key=lambda kv: (kv[0].startswith("seconds"), kv[0]))
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * (width + 12)]
    for k, v in rows:
        text = "nan" if isinstance(v, float) and math.isnan(v) else (f"{v:.4f}" if isinstance(v, float) else str(v))
        lines.append(f"{k:<{width}}  {text:>9}")
    return "\n".join(lines)


def plot_alpha_curve(path: Path, curves: Mapping[str, Any], metrics: Mapping[str, float]) -> Path | None:
    """Test accuracy (and proxy ASR / KNN score where present) along alpha, alpha-hat marked."""
    if "curve_alpha" not in curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(curves["curve_alpha"], curves["curve_test_acc"], label="test accuracy", color="C0")
    if "curve_proxy_asr" in curves:
        ax.plot(curves["curve_alpha"], curves["curve_proxy_asr"], label="proxy ASR", color="C3")
    for key, style, label in (("corrupted_clean_acc", ":", "corrupted"), ("oracle_clean_acc", "--", "oracle")):
        if key in metrics:
            ax.axhline(metrics[key], ls=style, color="gray", lw=1, label=label)
    ax.axvline(metrics["alpha"], color="k", lw=1, label=f"alpha = {metrics['alpha']:.2f}")
    if "knn_alpha" in curves:
        ax2 = ax.twinx()
        ax2.plot(curves["knn_alpha"], curves["knn_score"], color="C2", alpha=0.6, lw=1)
        ax2.set_ylabel("KNN self-agreement score", color="C2")
    ax.set_xlabel("alpha")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def log_alpha_curve(logger: Any, curves: Mapping[str, Any], png: Path | None = None) -> bool:
    """Send the alpha curve to the job's logger, so a dashboard shows what the run directory shows.

    wandb: line plots of test accuracy (and proxy ASR) along alpha and of the KNN score along
    the alpha it walked, plus the PNG. A logger with ``log_image``: the PNG. Any other logger
    (CSV): one row per alpha under ``alpha_curve/``. ``logger`` is the job's ``JobLogger``.
    Returns whether anything was logged.
    """
    base = getattr(logger, "base", None)
    if base is None or "curve_alpha" not in curves:
        return False
    from lightning.pytorch.loggers import WandbLogger

    alphas = list(curves["curve_alpha"])
    series = {"test accuracy": list(curves["curve_test_acc"])}
    if "curve_proxy_asr" in curves:
        series["proxy ASR"] = list(curves["curve_proxy_asr"])
    if isinstance(base, WandbLogger):
        import wandb

        media: dict[str, Any] = {"alpha_curve/accuracy": wandb.plot.line_series(
            xs=alphas, ys=list(series.values()), keys=list(series), title="CUTS: along alpha", xname="alpha")}
        if "knn_alpha" in curves:
            table = wandb.Table(columns=["alpha", "knn_score"], data=list(zip(curves["knn_alpha"], curves["knn_score"])))
            media["alpha_curve/knn_score"] = wandb.plot.line(table, "alpha", "knn_score",
                                                             title="KNN self-agreement score along alpha")
        if png is not None:
            media["alpha_curve/plot"] = wandb.Image(str(png))
        logger.log(media)
        return True
    if png is not None and callable(getattr(base, "log_image", None)):
        base.log_image(key="alpha_curve/plot", images=[str(png)])
        return True
    for i, alpha in enumerate(alphas):
        logger.log({"alpha_curve/alpha": alpha, **{f"alpha_curve/{k.replace(' ', '_')}": v[i] for k, v in series.items()}})
    return True

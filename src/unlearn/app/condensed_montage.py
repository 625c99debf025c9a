"""Condensed sets of one sweep side by side: one figure per (dataset, forget request, ipc).

Each condense.py run draws its own ``condensed.png``; comparing methods means opening ten files.
The montage puts every condenser of a setting in one row, titled with what the table says of it
(test accuracy, build seconds, iterations), so the images and the numbers are read together.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from unlearn.app.tradeoff_plot import save_new_figure

# Columns of a condensation table and panels of its figure, in this order (others after, by name).
CONDENSER_ORDER = ("blend", "dm", "idm", "gm", "random", "none")


def _panels(sweep_root: Path) -> dict[tuple[str, str, str], list[tuple[str, Path, dict[str, float]]]]:
    """(dataset, forget, ipc) -> [(condenser, condensed.png, metrics)] of every finished run."""
    settings: dict[tuple[str, str, str], list[tuple[str, Path, dict[str, float]]]] = {}
    for picture in sorted(Path(sweep_root).rglob("condensed.png")):
        run_dir = picture.parent
        metrics_file, hydra_file = run_dir / "metrics.json", run_dir / ".hydra" / "config.yaml"
        if not (metrics_file.is_file() and hydra_file.is_file()):
            continue
        cfg = yaml.safe_load(hydra_file.read_text())
        choices = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"]["choices"]
        key = (str(choices.get("dataset")), str(choices.get("forget")), str(cfg.get("ipc")))
        settings.setdefault(key, []).append((str(choices.get("condensation")), picture,
                                             json.loads(metrics_file.read_text())))
    return settings


def _title(method: str, m: dict[str, float]) -> str:
    acc = m.get("test_acc")
    seconds = m.get("seconds_cluster", 0.0) + m.get("seconds_build", 0.0)
    parts = [method, f"{100 * acc:.1f}%" if acc is not None else "", f"{seconds:.1f} s"]
    if "iterations" in m:
        parts.append(f"{m['iterations']:.0f} it")
    return "\n".join([parts[0], ", ".join(p for p in parts[1:] if p)])


def montage(sweep_root: Path) -> list[Path]:
    """``condensed_<dataset>_<forget>_ipc<ipc>.png`` in ``sweep_root`` per setting with two or more
    condensers; refuses to replace an existing one."""
    settings = {k: v for k, v in _panels(sweep_root).items() if len({m for m, _, _ in v}) > 1}
    if not settings:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    paths = []
    for (dataset, forget, ipc), panels in sorted(settings.items()):
        panels.sort(key=lambda p: ((*CONDENSER_ORDER, p[0]).index(p[0]), str(p[1])))
        fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), dpi=120, squeeze=False)
        for ax, (method, picture, metrics) in zip(axes[0], panels):
            ax.imshow(mpimg.imread(picture), cmap="gray")
            ax.set_title(_title(method, metrics), fontsize=8)
            ax.axis("off")
        fig.suptitle(f"{dataset}, forget={forget}, {ipc} per class", fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 0.92))
        paths.append(save_new_figure(fig, Path(sweep_root) / f"condensed_{dataset}_{forget}_ipc{ipc}.png"))
    return paths

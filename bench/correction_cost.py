"""Wall time of each correction as a fraction of retraining the oracle, measured in one run.

CUTS costs its proxy fine-tunes plus the alpha selection; SAP its projector fitting plus the
scale sweep; Potion its importance pass plus the dampening search. Each is divided by the
oracle's training time on the same data (the clean retrain a user would otherwise run). The
alpha sweep re-runs only the model: eval splits are materialised once (eval/evalset.py), so
alphas/second is the number of alphas scored over the selection time.

    python bench/correction_cost.py                 # digits defaults (fc1), CPU
    python bench/correction_cost.py arch=small_cnn  # any extra overrides, applied to every run
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(root: Path, name: str, overrides: list[str]) -> tuple[dict, dict]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import compose_cfg

    from unlearn.app.correct import run_correct

    cfg = compose_cfg("correct", root, ["trainer.enable_progress_bar=false", *overrides], name)
    metrics, _ = run_correct(cfg)
    curves_path = Path(cfg.paths.output_dir) / "curves.json"
    curves = json.loads(curves_path.read_text()) if curves_path.exists() else {}
    return metrics, curves


def main() -> None:
    extra = sys.argv[1:]
    root = Path(tempfile.mkdtemp(prefix="bench_cost_"))
    cuts, cuts_curves = run(root, "cuts", [*extra, "method.curve_grid=null"])
    sap, _ = run(root, "sap", [*extra, "method=sap"])
    cuts_p, scan = run(root, "cuts_poison", [*extra, "corruption=poison", "method.curve_grid=null"])
    potion, _ = run(root, "potion", [*extra, "corruption=poison", "method=potion"])

    def seconds(m: dict, *keys: str) -> float:
        return sum(m.get(f"seconds_{k}", 0.0) for k in keys)

    rows = [
        ("CUTS (noise): proxies + KNN alpha", seconds(cuts, "proxy", "alpha_selection"), cuts["seconds_oracle"]),
        ("SAP (noise): projectors + scale sweep", seconds(sap, *[k[8:] for k in sap if k.startswith("seconds_")
                                                                 and k not in ("seconds_total", "seconds_corrupted",
                                                                               "seconds_oracle")]),
         cuts["seconds_oracle"]),
        ("CUTS (poison): proxy + ASR scan", seconds(cuts_p, "proxy", "alpha_selection"), cuts_p["seconds_oracle"]),
        ("Potion (poison): importance + search", seconds(potion, "importance", "search"), cuts_p["seconds_oracle"]),
    ]
    print(f"{'method':42s} {'seconds':>9s} {'oracle s':>9s} {'ratio':>7s}")
    for name, s, oracle in rows:
        print(f"{name:42s} {s:9.2f} {oracle:9.2f} {s / oracle:7.3f}")
    scored = len(cuts_curves.get("knn_alpha", []))
    print(f"KNN alpha selection: {scored} alphas in {cuts['seconds_alpha_selection']:.2f} s = "
          f"{scored / cuts['seconds_alpha_selection']:.1f} alphas/s")
    scanned = len(scan.get("scan_alpha", []))
    print(f"poison ASR scan: {scanned} alphas in {cuts_p['seconds_alpha_selection']:.2f} s = "
          f"{scanned / max(cuts_p['seconds_alpha_selection'], 1e-9):.1f} alphas/s")


if __name__ == "__main__":
    main()

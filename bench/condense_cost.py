"""Build time of Blend vs DM / IDM / GM at the same images per class, as ratios, from one run.

Blend runs in full (k-means + its iterations). The pixel-learning baselines do the same work in
every iteration (a fresh random net, one matching step), so each runs ``--iterations`` of its
own and its full paper-length time is projected linearly from the measured seconds per
iteration; the table marks which numbers are measured and which projected. Test accuracy is
of one ConvNet trained on each set exactly as built here (so the baselines' accuracy is that
of a short run, not of their paper length).

    python bench/condense_cost.py                         # digits, ipc 10, CPU
    python bench/condense_cost.py --ipc 2 --iterations 50 dataset=cifar10 trainer.accelerator=gpu
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAPER_ITERATIONS = {"dm": 20000, "idm": 20000, "gm": 1000}


def run(root: Path, name: str, overrides: list[str]) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import compose_cfg

    from unlearn.app.condense import run_condense

    cfg = compose_cfg("condense", root, overrides, name)
    metrics, _ = run_condense(cfg)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=20, help="iterations each baseline actually runs")
    parser.add_argument("--epochs", type=int, default=150, help="evaluation training epochs")
    parser.add_argument("overrides", nargs="*", help="extra condense.py overrides for every run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_condense_"))
    common = [f"ipc={args.ipc}", f"evaluate.epochs={args.epochs}", "evaluate.random_baseline=false", *args.overrides]
    rows = []
    blend = run(root, "blend", ["condensation=blend", *common])
    blend_s = blend["seconds_cluster"] + blend["seconds_build"]
    rows.append(("blend", blend_s, "measured", blend["test_acc"]))
    for name, paper in PAPER_ITERATIONS.items():
        m = run(root, name, [f"condensation={name}", f"condensation.iterations={args.iterations}", *common])
        per_iteration = m["seconds_build"] / args.iterations
        rows.append((name, per_iteration * paper, f"projected from {args.iterations} it ({per_iteration:.3f} s/it)",
                     m["test_acc"]))
    print(f"\nipc {args.ipc}; Blend: {blend['seconds_cluster']:.2f} s k-means + {blend['seconds_build']:.2f} s blending")
    print(f"{'method':8s} {'seconds (paper length)':>24s} {'x Blend':>9s} {'test acc':>9s}  how")
    for name, seconds, how, acc in rows:
        print(f"{name:8s} {seconds:24.1f} {seconds / blend_s:9.1f} {acc:9.3f}  {how}")
    (root / "rows.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()

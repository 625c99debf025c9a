"""Correct (unlearn) a trained model with one method: ``python correct.py method=cuts ...``.

Trains or reuses every upstream model it needs (corrupted, oracle, proxies) through the
same code path as train.py, then writes metrics.json, curves.json and alpha_curve.png in
the Hydra run directory and prints a table. See README.md for the options.
"""

import hydra
from omegaconf import DictConfig

from unlearn.app.correct import run_correct
from unlearn.app.entry import guarded


@hydra.main(version_base="1.3", config_path="conf", config_name="correct")
@guarded
def main(cfg: DictConfig) -> float:
    metrics, _ = run_correct(cfg)
    return metrics.get("clean_acc", float("nan"))


if __name__ == "__main__":
    main()

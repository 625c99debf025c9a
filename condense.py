"""Condense a training set: ``python condense.py condensation=blend|dm|idm|gm|random|none ...``.

Writes the set (condensed.safetensors + condensed.json), a picture of it (condensed.png) and
metrics.json (test accuracy of fresh nets trained on it, size, compression, seconds per phase)
in the Hydra run directory and prints a table. ``condensed=<run dir>`` re-evaluates a saved set.
"""

import hydra
from omegaconf import DictConfig

from unlearn.app.condense import run_condense
from unlearn.app.entry import guarded


@hydra.main(version_base="1.3", config_path="conf", config_name="condense")
@guarded
def main(cfg: DictConfig) -> float:
    metrics, _ = run_condense(cfg)
    return metrics.get("test_acc", float("nan"))


if __name__ == "__main__":
    main()

"""Train (or reuse) one stage's model: ``python train.py stage=corrupted|oracle|cf|proxy``.

Weights land in outputs/artifacts/<stage>/<key>/model.safetensors, keyed by the config
that made them; rerunning reuses them, and a killed run resumes from its last checkpoint.
"""

import hydra
from omegaconf import DictConfig

from unlearn.app.entry import guarded
from unlearn.app.train import run_train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@guarded
def main(cfg: DictConfig) -> None:
    run_train(cfg)


if __name__ == "__main__":
    main()

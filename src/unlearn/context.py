"""What a method gets to work with: the data, the stage runner, the device, the run dir."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unlearn.errors import bad_value
from unlearn.eval.evalset import EvalSet

if TYPE_CHECKING:  # hints only: a method module imports this one, and the start-up check imports
    # the methods without Lightning (app/preflight.py), which the data and stage modules need
    from unlearn.data.corruption import Corrupted
    from unlearn.data.datamodule import CorruptionDataModule
    from unlearn.models.classifier import Classifier
    from unlearn.stage_logger import JobLogger
    from unlearn.stages import StageRunner

EVAL_SPLITS = ("test", "heldout", "train", "train_corrupted", "proxy_triggered", "test_triggered")


@dataclass(kw_only=True)  # built by keyword: a dozen fields, several of one type
class RunContext:
    dm: CorruptionDataModule
    runner: StageRunner
    build_net: Callable[[], Classifier]
    device: torch.device
    run_dir: Path
    logger: JobLogger
    # Approximate unlearning (a forget request): the retain-set condensation and how much of
    # the test set is the unseen pool (the rest evaluates). Unused by CUTS.
    condenser: Any = None
    unseen_fraction: float = 0.7
    seed: int = 0
    # Multi-round unlearning: rounds, and the fraction of the retain set each later round forgets.
    rounds: int = 1
    round_fraction: float = 0.1
    # A condense.py run dir whose set replaces the retain set (instead of condensing here).
    condensed_path: str | None = None
    # Blend's Section 4.4 ablation: which training set (v1..v7) replaces the retain set; None = v2's.
    ablation: str | None = None
    # The paper MIA's phi (exact | reference) and its swapped-role re-run (forget_classes | test).
    mia_phi: str = "exact"
    mia_fold: str = "forget_classes"
    # Where evaluation images live: auto (the device when they fit) | host (always host memory, streamed).
    eval_memory: str = "auto"
    # The current request's fit place (unlearning.fit.FitPlace): set while a method runs.
    fits: Any = None
    _evalsets: dict[str, EvalSet] = field(default_factory=dict)

    @property
    def corruption(self):
        return self.dm.corruption

    def _split(self, name: str) -> Corrupted:
        from unlearn.data.corruption import clean

        dm = self.dm
        if name == "test":
            return dm.test_split()
        if name == "heldout":
            return clean(dm.heldout)
        if name == "train":
            return dm.train
        if name == "train_corrupted":
            return dm.train.only_corrupted()
        if name == "proxy_triggered":
            return dm.triggered("proxy")
        if name == "test_triggered":
            return dm.triggered("test")
        raise bad_value("eval split", name, EVAL_SPLITS)

    def evalset(self, name: str) -> EvalSet:
        """A split with eval transforms, materialised on the eval device once per job."""
        if name not in self._evalsets:
            loader = self.dm.loader(self._split(name), train=False)
            self._evalsets[name] = EvalSet.from_loader(loader, self.device, self.eval_memory)
        return self._evalsets[name]

    def net_with(self, state: dict[str, torch.Tensor]) -> Classifier:
        net = self.build_net()
        net.load_state_dict(state)
        return net.to(self.device).eval()

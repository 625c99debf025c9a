"""The one classification LightningModule used by every training stage.

Metrics are accumulated with torchmetrics inside the step and logged once per epoch:
per-step ``self.log`` is the dominant framework overhead on small CPU batches
(bench/lightning_overhead.py measures the ratio against a plain loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from unlearn.models.classifier import Classifier
from unlearn.models.schedule import make_scheduler


OPTIMIZERS = ("adamw", "sgd", "adam")


@dataclass
class Recipe:
    """How one stage trains (spec 3). Lengths are in epochs, or in steps if ``max_steps`` > 0.

    Scheduler positions (``warmup``, ``hold``) count in the unit of ``interval``.
    """

    max_epochs: int = 1
    max_steps: int = -1
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    warmup: int = 0
    # 0: warm-up from lr 0 (t / W, the CUTS reference); 1: from lr / W ((t + 1) / W, the Blend reference).
    warmup_offset: int = 0
    hold: int = 0
    eta_min: float = 0.0
    interval: str = "epoch"
    # Non-empty: the reference's "step" schedule (MultiStepLR) instead of warm-up/hold/cosine.
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    # AdamW (the CUTS recipes), SGD with momentum (the condensation / unlearning literature's) or Adam (A-AMU).
    optimizer: str = "adamw"
    momentum: float = 0.9

    def __post_init__(self) -> None:
        from unlearn.errors import bad_value

        if self.optimizer not in OPTIMIZERS:
            raise bad_value("optimizer", self.optimizer, OPTIMIZERS)
        if self.interval not in ("epoch", "step"):
            raise bad_value("interval", self.interval, ("epoch", "step"))
        if self.max_steps <= 0 and self.max_epochs <= 0:
            raise bad_value("max_epochs", self.max_epochs, "a positive number of epochs (or max_steps > 0)")
        if self.milestones and (self.warmup or self.hold):
            from unlearn.errors import ConfigError

            raise ConfigError("a stage recipe takes either milestones (step schedule) or warmup/hold (cosine), not both")
        if self.lr <= 0:
            raise bad_value("lr", self.lr, "a positive learning rate")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad_value("batch_size", self.batch_size, "a positive number of images per batch")
        if self.warmup_offset not in (0, 1):
            raise bad_value("warmup_offset", self.warmup_offset, "0 (warm-up from lr 0) or 1 (from lr / warmup)")


def make_optimizer(params: list[torch.nn.Parameter], r: Recipe) -> torch.optim.Optimizer:
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    if r.optimizer == "adam":
        return torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)
    return torch.optim.AdamW(params, lr=r.lr, betas=(0.9, 0.999), weight_decay=r.weight_decay)


def _metrics(num_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            # No micro-F1 beside it: for single-label multiclass it equals micro accuracy.
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "loss": MeanMetric(),
        },
        prefix=prefix,
        compute_groups=False,  # each metric is updated by hand in _step
    )


class ClassifierModule(L.LightningModule):
    def __init__(self, net: Classifier, num_classes: int, recipe: Recipe) -> None:
        super().__init__()
        self.net = net
        self.recipe = recipe
        self.train_metrics = _metrics(num_classes, "train/")
        self.test_metrics = _metrics(num_classes, "test/")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: dict, metrics: MetricCollection) -> torch.Tensor:
        logits = self(batch["x"])
        loss = F.cross_entropy(logits, batch["y"])
        preds = logits.detach().argmax(dim=1)
        metrics["acc"].update(preds, batch["y"])
        metrics["loss"].update(loss.detach(), weight=batch["y"].numel())
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, self.train_metrics)

    def on_train_epoch_end(self) -> None:
        values = self.train_metrics.compute()
        values["train/lr"] = torch.tensor(self.optimizers().param_groups[0]["lr"])
        self.log_dict(values, prog_bar=True, sync_dist=True)  # already synced by torchmetrics; no-op on one device
        self.train_metrics.reset()

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()

    def configure_optimizers(self):
        r = self.recipe
        params = [p for p in self.net.parameters() if p.requires_grad]
        opt = make_optimizer(params, r)
        total = r.max_epochs if r.interval == "epoch" else int(self.trainer.estimated_stepping_batches)
        sched = make_scheduler(opt, r.warmup, r.hold, total, r.eta_min, r.milestones, r.gamma, r.warmup_offset)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": r.interval}}

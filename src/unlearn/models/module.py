"""The one classification LightningModule used by every training stage.

Metrics are accumulated with torchmetrics inside the step and logged once per epoch:
per-step ``self.log`` is the dominant framework overhead on small CPU batches
(bench/lightning_overhead.py measures the ratio against a plain loop).
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from unlearn.models.classifier import Classifier
from unlearn.models.recipe import Recipe, make_optimizer
from unlearn.models.schedule import make_scheduler


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

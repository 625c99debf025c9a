"""The model shape every method relies on: a feature extractor followed by a head."""

from __future__ import annotations

from torch import Tensor, nn


class Classifier(nn.Module):
    """``forward = head(features(x))``.

    Methods need the penultimate features (the KNN alpha estimator, feature plots), and
    task vectors need to know which parameters they may touch: ``tv_exclude`` lists the
    state-dict prefixes that stay out (e.g. a frozen zero-shot head). BatchNorm is
    excluded by the task-vector code itself, for every arch.
    """

    def __init__(self, arch: str, backbone: nn.Module, head: nn.Module, tv_exclude: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        self.head = head
        self.tv_exclude = tuple(tv_exclude)

    def features(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

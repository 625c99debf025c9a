"""Evaluation splits materialised once, so sweeping many alphas re-runs only the model.

Eval transforms are deterministic, so the transformed tensors are identical for every
alpha; keeping them (on the eval device when they fit) removes data loading from the
alpha loop entirely.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


@dataclass
class EvalSet:
    x: torch.Tensor
    y: torch.Tensor  # the label training saw (the target class for triggered views)
    y_true: torch.Tensor
    flag: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @classmethod
    def from_loader(cls, loader: DataLoader, device: torch.device | str = "cpu") -> EvalSet:
        parts: dict[str, list[torch.Tensor]] = {"x": [], "y": [], "y_true": [], "flag": []}
        for batch in loader:
            for k in parts:
                parts[k].append(batch[k])
        if not parts["x"]:
            raise ValueError("cannot evaluate on an empty split")
        return cls(*(torch.cat(parts[k]).to(device) for k in ("x", "y", "y_true", "flag")))


@torch.no_grad()
def logits(net: nn.Module, data: EvalSet, batch_size: int = 1024) -> torch.Tensor:
    net.eval()
    return torch.cat([net(data.x[i : i + batch_size]).float() for i in range(0, len(data), batch_size)])


@torch.no_grad()
def normalised_features(net: nn.Module, data: EvalSet, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised penultimate features and the softmax of ``head(normalised features)``.

    Feeding the *normalised* features to the head for every arch is what the reference
    estimator does (spec 5 step 3); it is exact for CLIP's cosine head.
    """
    net.eval()
    feats = torch.cat([net.features(data.x[i : i + batch_size]).float() for i in range(0, len(data), batch_size)])
    feats = F.normalize(feats.flatten(1), dim=1)
    probs = torch.softmax(net.head(feats).float(), dim=1)
    return feats.cpu(), probs.cpu()


def accuracy(net: nn.Module, data: EvalSet, against: str = "y") -> float:
    """Top-1 accuracy against ``y`` (training labels) or ``y_true``; nan on an empty split."""
    if len(data) == 0:
        return float("nan")
    target = data.y if against == "y" else data.y_true
    return float((logits(net, data).argmax(dim=1) == target).float().mean())


def recovery(method_acc: float, corrupted_acc: float, oracle_acc: float) -> float:
    """(ACC_method - ACC_corrupted) / (ACC_oracle - ACC_corrupted): 1 means the oracle is reached."""
    gap = oracle_acc - corrupted_acc
    return float("nan") if abs(gap) < 1e-12 else (method_acc - corrupted_acc) / gap

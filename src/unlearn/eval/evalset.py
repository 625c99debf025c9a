"""Evaluation splits materialised once, so sweeping many alphas re-runs only the model.

Eval transforms are deterministic, so the transformed tensors are identical for every
alpha; keeping them (on the eval device when they fit) removes data loading from the
alpha loop entirely.
"""

from __future__ import annotations

from collections.abc import Iterator
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
        x = torch.cat(parts["x"])
        # 224px splits are large (CIFAR-10's noisy train samples at 224px: ~18 GB in fp32): keep
        # them in pinned host memory and stream batches unless they take < 1/4 of free GPU memory.
        device = torch.device(device)
        if device.type == "cuda" and x.numel() * x.element_size() > torch.cuda.mem_get_info(device)[0] // 4:
            x = x.pin_memory()
        else:
            x = x.to(device)
        return cls(x, *(torch.cat(parts[k]).to(device) for k in ("y", "y_true", "flag")))

    def batches(self, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
        for i in range(0, len(self), batch_size):
            yield self.x[i : i + batch_size].to(device, non_blocking=True)


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


@torch.no_grad()
def logits(net: nn.Module, data: EvalSet, batch_size: int = 1024) -> torch.Tensor:
    net.eval()
    return torch.cat([net(x).float() for x in data.batches(batch_size, _device(net))]).to(data.y.device)


@torch.no_grad()
def normalised_features(net: nn.Module, data: EvalSet, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised penultimate features and the softmax of ``head(normalised features)``.

    Feeding the *normalised* features to the head for every arch is what the reference
    estimator does (spec 5 step 3); it is exact for CLIP's cosine head.
    """
    net.eval()
    feats = torch.cat([net.features(x).float() for x in data.batches(batch_size, _device(net))])
    feats = F.normalize(feats.flatten(1), dim=1)
    probs = torch.softmax(net.head(feats).float(), dim=1)
    return feats.cpu(), probs.cpu()


def accuracy(net: nn.Module, data: EvalSet, against: str = "y") -> float:
    """Top-1 accuracy against ``y`` (training labels) or ``y_true``; nan on an empty split."""
    if len(data) == 0:
        return float("nan")
    return top1(logits(net, data), data.y if against == "y" else data.y_true)


def top1(outputs: torch.Tensor, target: torch.Tensor) -> float:
    """Top-1 accuracy of logits already computed; nan when there are none."""
    return float((outputs.argmax(dim=1) == target).float().mean()) if len(target) else float("nan")


def recovery(method_acc: float, corrupted_acc: float, oracle_acc: float) -> float:
    """(ACC_method - ACC_corrupted) / (ACC_oracle - ACC_corrupted): 1 means the oracle is reached."""
    gap = oracle_acc - corrupted_acc
    return float("nan") if abs(gap) < 1e-12 else (method_acc - corrupted_acc) / gap

"""Evaluation splits materialised once, so sweeping many alphas re-runs only the model.

Eval transforms are deterministic, so the transformed tensors are identical for every
alpha; keeping them (on the eval device when they fit) removes data loading from the
alpha loop entirely.

Large splits (224-pixel images) do not fit on the GPU: their images stay in pinned host memory
(``HostImages``) while labels and flags sit on the device. Code that needs images takes them with
``take(x, rows, device)`` / ``EvalSet.rows`` / ``EvalSet.x_on``, which work for both; indexing
``HostImages`` directly is refused, so ``eval_memory=host`` (which forces the host path even on a
CPU) makes every method show on a CPU that it would work with a GPU's large splits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


MEMORY = ("auto", "host")


class HostImages:
    """An EvalSet's images held in host memory (pinned when a GPU is in use), streamed to the device
    in batches. Not a tensor on purpose: ``x[rows]`` would silently mix devices on a GPU."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images.pin_memory() if torch.cuda.is_available() else images

    @property
    def shape(self) -> torch.Size:
        return self.images.shape

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: object) -> torch.Tensor:
        raise TypeError("these evaluation images are held in host memory (eval_memory=host, or too large for "
                        "the GPU): take rows with unlearn.eval.evalset.take(x, rows, device) or EvalSet.rows")


Images = torch.Tensor | HostImages


def take(x: Images, rows: torch.Tensor | slice, device: torch.device | str) -> torch.Tensor:
    """Rows of device or host images, on ``device``."""
    source = images_of(x)
    if isinstance(rows, torch.Tensor):
        rows = rows.to(source.device)
    return source[rows].to(device, non_blocking=True)


def images_of(x: Images) -> torch.Tensor:
    """The tensor behind ``x`` wherever it lives, for reductions that need no particular device."""
    return x.images if isinstance(x, HostImages) else x


def on_device(x: Images, device: torch.device | str) -> torch.Tensor:
    """All of ``x`` on ``device`` (small sets only: a forget set, a condensed set)."""
    return take(x, slice(None), device)


@dataclass
class EvalSet:
    x: Images
    y: torch.Tensor  # the label training saw (the target class for triggered views)
    y_true: torch.Tensor
    flag: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.y.device

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Images of ``index`` on the set's device, wherever the images are held."""
        return take(self.x, index, self.device)

    def x_on(self, device: torch.device | str | None = None) -> torch.Tensor:
        return on_device(self.x, self.device if device is None else device)

    @classmethod
    def from_loader(cls, loader: DataLoader, device: torch.device | str = "cpu", memory: str = "auto") -> EvalSet:
        parts: dict[str, list[torch.Tensor]] = {"x": [], "y": [], "y_true": [], "flag": []}
        for batch in loader:
            for k in parts:
                parts[k].append(batch[k])
        if not parts["x"]:
            raise ValueError("cannot evaluate on an empty split")
        if memory not in MEMORY:
            from unlearn.errors import bad_value

            raise bad_value("eval_memory", memory, MEMORY)
        x = torch.cat(parts["x"])
        # 224px splits are large (CIFAR-10's noisy train samples at 224px: ~18 GB in fp32): keep
        # them in pinned host memory and stream batches unless they take < 1/4 of free GPU memory.
        device = torch.device(device)
        too_big = device.type == "cuda" and x.numel() * x.element_size() > torch.cuda.mem_get_info(device)[0] // 4
        images: Images = HostImages(x) if memory == "host" or too_big else x.to(device)
        return cls(images, *(torch.cat(parts[k]).to(device) for k in ("y", "y_true", "flag")))

    def batches(self, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
        for i in range(0, len(self), batch_size):
            yield take(self.x, slice(i, i + batch_size), device)


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

"""``corruption=asymmetric``: class-dependent label flips along a source -> target map (spec 1.5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearn.data.classmaps import ASYMMETRIC_MAPS
from unlearn.data.corruption.base import NOISY, Corrupted, Corruption, clean
from unlearn.data.imageset import ImageSet
from unlearn.errors import bad_value
from unlearn.registry import CORRUPTIONS


@CORRUPTIONS.register("asymmetric")
@dataclass(frozen=True)
class Asymmetric(Corruption):
    """floor(rate*n_s) samples of every source class s flipped to its mapped target."""

    class_map: dict[int, int] | None = None
    kind: ClassVar[str] = "noise"

    def mapping(self, dataset: str, num_classes: int) -> dict[int, int]:
        mapping = self.class_map if self.class_map is not None else ASYMMETRIC_MAPS.get(dataset)
        if mapping is None:
            raise bad_value(
                "corruption.class_map", None, f"a {{source: target}} map (no default map for dataset {dataset!r}; "
                f"defaults exist for {', '.join(sorted(ASYMMETRIC_MAPS))})"
            )
        mapping = {int(k): int(v) for k, v in mapping.items()}
        for s, t in mapping.items():
            if not (0 <= s < num_classes and 0 <= t < num_classes):
                raise bad_value("corruption.class_map", f"{s}->{t}", f"classes in 0..{num_classes - 1}")
        return mapping

    def apply(self, data: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        gen = torch.Generator().manual_seed(self.seed)
        labels = data.labels.clone()
        flags = torch.zeros(len(data), dtype=torch.long)
        for src, dst in self.mapping(dataset, num_classes).items():
            # Sources are read from the original labels, so flips never chain.
            members = torch.nonzero(data.labels == src, as_tuple=True)[0]
            pick = members[torch.randperm(len(members), generator=gen)[: int(self.rate * len(members))]]
            labels[pick] = dst
            flags[pick] = NOISY
        return Corrupted(ImageSet(data.images, labels), data.labels.clone(), flags)

    def cf_set(self, heldout: ImageSet, num_classes: int, dataset: str) -> Corrupted:
        """CF for asymmetric noise sees only the source-class held-out images (spec 1.7)."""
        sources = torch.tensor(sorted(self.mapping(dataset, num_classes)))
        keep = torch.nonzero(torch.isin(heldout.labels, sources), as_tuple=True)[0]
        return clean(heldout.subset(keep))

"""The ``unlearn:`` config node (correct.yaml) as a checked dataclass, like a stage ``Recipe``.

Every value is checked when the job starts, before any data loads: a bad one is refused in one
line naming the key and what is allowed, and an unknown key (a typo such as ``unlearn.round``)
is refused rather than silently unused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from unlearn.errors import bad_value

MIA_PHI = ("exact", "reference")
MIA_FOLD = ("forget_classes", "test")
ABLATIONS = tuple(f"v{i}" for i in range(1, 8))


@dataclass(frozen=True)
class UnlearnSettings:
    # Of the test split: A-AMU's unseen pool; the rest evaluates (spec blend_aamu 1).
    unseen_fraction: float = 0.7
    # > 1: multi-round unlearning; each later round forgets round_fraction of what is retained (spec 7.4).
    rounds: int = 1
    round_fraction: float = 0.1
    # > 0: the shadow-model (offline LiRA) attack with this many shadows.
    shadows: int = 0
    # v1..v7: Blend's Section 4.4 training-set ablation; None = the proposed set.
    ablation: str | None = None
    # The paper MIA: phi exact or as the reference computes it; the swapped re-run against the
    # forget classes' held-out images or (the reference) the whole test split.
    mia_phi: str = "exact"
    mia_fold: str = "forget_classes"

    def __post_init__(self) -> None:
        if not 0.0 < self.unseen_fraction < 1.0:
            raise bad_value("unlearn.unseen_fraction", self.unseen_fraction, "a fraction strictly between 0 and 1")
        if self.rounds < 1:
            raise bad_value("unlearn.rounds", self.rounds, "a positive number of forget rounds")
        if not 0.0 < self.round_fraction < 1.0:
            raise bad_value("unlearn.round_fraction", self.round_fraction, "a fraction strictly between 0 and 1")
        if self.shadows < 0 or self.shadows == 1:
            raise bad_value("unlearn.shadows", self.shadows, "0 (no shadow attack) or at least 2 shadow models")
        if self.ablation is not None and self.ablation not in ABLATIONS:
            raise bad_value("unlearn.ablation", self.ablation, f"null or one of {', '.join(ABLATIONS)} (spec blend_aamu 3.6)")
        if self.mia_phi not in MIA_PHI:
            raise bad_value("unlearn.mia_phi", self.mia_phi, "exact (float64) or reference (the reference code's float32 phi)")
        if self.mia_fold not in MIA_FOLD:
            raise bad_value("unlearn.mia_fold", self.mia_fold, "forget_classes or test (the reference code's swap)")

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None) -> UnlearnSettings:
        node = dict(node or {})
        allowed = {f.name: f.type for f in fields(cls)}
        for key, value in node.items():
            if key not in allowed:
                raise bad_value(f"unlearn.{key}", value, ", ".join(allowed))
        casts = {"unseen_fraction": float, "round_fraction": float, "rounds": int, "shadows": int,
                 "mia_phi": str, "mia_fold": str}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "ablation":
                out[key] = None if value is None else str(value)
                continue
            if value is None or isinstance(value, bool):
                raise bad_value(f"unlearn.{key}", value, f"a {casts[key].__name__}")
            try:
                out[key] = casts[key](value)
            except (TypeError, ValueError):
                raise bad_value(f"unlearn.{key}", value, f"a {casts[key].__name__}") from None
            if casts[key] is int and out[key] != value:
                raise bad_value(f"unlearn.{key}", value, "a whole number")
        return cls(**out)

"""Every training stage in one table: what it trains on, what it starts from, what names it.

Before this table each of these facts was an ``if stage == ...`` chain in a different layer
(the DataModule picked the rows, the runner the parent and the cache key, the entry points the
allowed names), so a new stage meant editing four files that did not know of each other. The data
layer now only offers splits (``dm.train``, ``dm.cf_split()``, ...); this table, which sits just
below the stage runner, says which split each stage uses (spec 1.7).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unlearn.errors import bad_value

if TYPE_CHECKING:  # hints only: the start-up check reads the stage names without Lightning
    from unlearn.data.corruption import Corrupted
    from unlearn.data.datamodule import CorruptionDataModule


def _numbered(stage: str, number: int | None) -> int:
    if number is None:
        raise ValueError(f"the {stage} stage needs a model number (its {stage} seed or index)")
    return int(number)


def _proxy(dm: CorruptionDataModule, seed: int | None) -> Corrupted:
    return dm.proxy_split(_numbered("proxy", seed))


def _shadow(dm: CorruptionDataModule, index: int | None) -> Corrupted:
    return dm.shadow_split(_numbered("shadow", index))


def _rows_hash(dm: CorruptionDataModule, _: int | None) -> dict[str, Any]:
    # The retrain is keyed by exactly which rows it drops, whatever the request that named them.
    return {"forget_rows": hashlib.sha256(dm.forget_rows().numpy().astype("int64").tobytes()).hexdigest()}


@dataclass(frozen=True)
class Stage:
    name: str
    split: Callable[[CorruptionDataModule, int | None], Corrupted]
    # Fine-tuned from this stage's weights instead of trained from the initial ones.
    parent: str | None = None
    # Cache-key entry that ties this stage to the corrupted model whose data it was cut from
    # (``oracle_of``, ...): the names predate the table and stay, so cached weights stay valid.
    of_corrupted: str | None = None
    # Extra cache-key material from the model number (proxy seed, shadow index) and the data.
    key: Callable[[CorruptionDataModule, int | None], dict[str, Any]] | None = None
    # From-scratch stages share the corrupted model's initial weights unless this says otherwise.
    own_init: bool = False
    # Trains only inside correct.py (LiRA's shadow models, unlearn.shadows=S), not as a train.py stage.
    internal: bool = False
    # False: one model for every run seed (keyed and initialised without it), so the runs of a
    # multi-seed sweep share it. LiRA's shadows model the training algorithm, not one run of it.
    per_run_seed: bool = True


TABLE: dict[str, Stage] = {s.name: s for s in (
    Stage("corrupted", lambda dm, _: dm.train),
    Stage("oracle", lambda dm, _: dm.train.only_clean(), of_corrupted="oracle_of"),
    Stage("cf", lambda dm, _: dm.cf_split(), parent="corrupted"),
    Stage("proxy", _proxy, parent="corrupted", key=lambda dm, seed: {"proxy_seed": _numbered("proxy", seed)}),
    Stage("retain", lambda dm, _: dm.retain_split(), of_corrupted="retain_of", key=_rows_hash),
    Stage("shadow", _shadow, own_init=True, internal=True, per_run_seed=False,
          key=lambda dm, i: {"shadow": [_numbered("shadow", i), dm.shadow_count]}),
)}
STAGES = tuple(TABLE)


def stage(name: str) -> Stage:
    if name not in TABLE:
        raise bad_value("stage", name, STAGES)
    return TABLE[name]


def stage_split(dm: CorruptionDataModule, name: str, number: int | None = None) -> Corrupted:
    """The rows stage ``name`` (model ``number`` of it, for proxy and shadow) trains on."""
    return stage(name).split(dm, number)

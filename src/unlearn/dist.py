"""Which process of a multi-process run this is, before and after Lightning sets up DDP.

Lightning launches extra ranks by re-running the entry point (strategy=ddp), SLURM starts
one task per device, and torchrun sets RANK: every rank runs the whole job. Training is
collective, but artifacts, metrics and alpha selection belong to global rank 0 alone, and
file locks must not be taken by the other ranks (rank 0 holds them while waiting for them
inside ``fit``).
"""

from __future__ import annotations

import os


def global_rank() -> int:
    """0 exactly on global rank 0 (and when not distributed); other ranks get a positive value.

    Lightning reads RANK / LOCAL_RANK / SLURM_PROCID at import and corrects itself once a
    strategy is set up; a second node's first process has only NODE_RANK before that.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    rank = int(getattr(rank_zero_only, "rank", 0) or 0)
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", "0")) or 0)
    return max(rank, node)


def is_global_zero() -> bool:
    return global_rank() == 0

"""Dataset condensation (``condensation`` config group): Blend and the DM / IDM / GM baselines.

Importing the package registers every method in ``CONDENSERS``.
"""

from __future__ import annotations

from unlearn.condense import blend, dm, gm, idm, none, random  # noqa: F401
from unlearn.condense.base import CONDENSERS, CondensedSet, Condenser, Pool

__all__ = ["CONDENSERS", "CondensedSet", "Condenser", "Pool"]

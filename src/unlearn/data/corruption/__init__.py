"""Exact, seeded corruption of a labelled split: symmetric/asymmetric noise, BadNets poison, real noise.

One module per ``corruption=`` option (``none``, ``symmetric``, ``asymmetric``, ``poison``, ``real``)
and ``base`` for what they share; every corruption returns the new labels, the (possibly triggered)
raw images and a flag per sample (0 clean, 1 noisy, 2 poisoned), and never touches the caller's
tensors, so the true label of every sample stays available for clean/noisy metrics. The names are
re-exported here so callers need not know which module holds which.
"""

from unlearn.data.corruption.asymmetric import Asymmetric
from unlearn.data.corruption.base import CLEAN, NOISY, POISONED, Corrupted, Corruption, check_source, clean
from unlearn.data.corruption.none import NoCorruption
from unlearn.data.corruption.poison import Poison
from unlearn.data.corruption.real import RealLabels, RealNoise
from unlearn.data.corruption.symmetric import Symmetric

__all__ = ["CLEAN", "NOISY", "POISONED", "Asymmetric", "Corrupted", "Corruption", "NoCorruption", "Poison",
           "RealLabels", "RealNoise", "Symmetric", "check_source", "clean"]

"""Dataset condensation methods (``condensation`` config group)."""

from __future__ import annotations

from unlearn.data.imageset import ImageSet


class NoCondensation:
    """The identity: methods see the retain set as it is (``condensation=none``)."""

    name = "none"

    def condense(self, data: ImageSet) -> ImageSet:
        return data

"""What exists: every registered dataset, arch, method and condenser, by importing the modules that
register them.

Kept apart from ``registry.py`` on purpose: the registries sit at the bottom of the import graph
(every registering module imports them), the catalogue at the top (it imports every registering
module), so no import cycle closes through them.
"""

from __future__ import annotations

from unlearn.condense.base import CONDENSERS
from unlearn.registry import ARCHS, DATASETS, METHODS, Registry


def load_all() -> None:
    # Importing the modules runs their @register decorators.
    import unlearn.condense  # noqa: F401
    import unlearn.data.cinic10  # noqa: F401
    import unlearn.data.clothing1m  # noqa: F401
    import unlearn.data.fashion_mnist  # noqa: F401
    import unlearn.data.sources  # noqa: F401
    import unlearn.methods  # noqa: F401
    import unlearn.models.archs  # noqa: F401
    import unlearn.models.clip  # noqa: F401
    import unlearn.models.dinov3  # noqa: F401


def _names(registry: Registry) -> list[str]:
    load_all()
    return registry.names()


def list_datasets() -> list[str]:
    return _names(DATASETS)


def list_archs() -> list[str]:
    return _names(ARCHS)


def list_methods() -> list[str]:
    return _names(METHODS)


def list_condensers() -> list[str]:
    return _names(CONDENSERS)

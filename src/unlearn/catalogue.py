"""What exists: every registered dataset, arch, method and condenser, by importing the modules that
register them.

Kept apart from ``registry.py`` on purpose: the registries sit at the bottom of the import graph
(every registering module imports them), the catalogue at the top (it imports every registering
module), so no import cycle closes through them.
"""

from __future__ import annotations


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


def list_datasets() -> list[str]:
    from unlearn.registry import DATASETS

    load_all()
    return DATASETS.names()


def list_archs() -> list[str]:
    from unlearn.registry import ARCHS

    load_all()
    return ARCHS.names()


def list_methods() -> list[str]:
    from unlearn.registry import METHODS

    load_all()
    return METHODS.names()


def list_condensers() -> list[str]:
    from unlearn.condense.base import CONDENSERS

    load_all()
    return CONDENSERS.names()

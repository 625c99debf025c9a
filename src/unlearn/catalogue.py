"""What exists: every registered dataset, arch, method, corruption, forget request and condenser, by
importing the modules that register them.

Kept apart from ``registry.py`` on purpose: the registries sit at the bottom of the import graph
(every registering module imports them), the catalogue at the top (it imports every registering
module), so no import cycle closes through them.
"""

from __future__ import annotations

import importlib
import pkgutil

from unlearn.condense.base import CONDENSERS
from unlearn.registry import ARCHS, CORRUPTIONS, DATASETS, FORGETS, METHODS, Registry


def load_all() -> None:
    """Import every module of the packages whose modules register options (their decorators run on
    import), so a new module is listed without anybody adding it to a list here."""
    for package in ("unlearn.data", "unlearn.models", "unlearn.methods", "unlearn.condense"):
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            importlib.import_module(info.name)


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


def list_corruptions() -> list[str]:
    return _names(CORRUPTIONS)


def list_forgets() -> list[str]:
    return _names(FORGETS)

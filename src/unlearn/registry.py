"""Name -> object registries so tests and docs can enumerate what exists.

Configs still select objects by ``_target_``; the registries exist so that a new dataset,
arch or method is picked up by ``list_*()`` (and by the parametrised smoke tests)
without anybody editing a list by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from unlearn.errors import bad_value

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        if name not in self._items:
            raise bad_value(self.kind, name, sorted(self._items))
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


DATASETS: Registry = Registry("dataset")
ARCHS: Registry = Registry("arch")
METHODS: Registry = Registry("method")


def _load_all() -> None:
    # Importing the modules runs their @register decorators.
    import unlearn.data.cinic10  # noqa: F401
    import unlearn.data.clothing1m  # noqa: F401
    import unlearn.data.fashion_mnist  # noqa: F401
    import unlearn.data.sources  # noqa: F401
    import unlearn.methods  # noqa: F401
    import unlearn.models.archs  # noqa: F401
    import unlearn.models.clip  # noqa: F401
    import unlearn.models.dinov3  # noqa: F401


def list_datasets() -> list[str]:
    _load_all()
    return DATASETS.names()


def list_archs() -> list[str]:
    _load_all()
    return ARCHS.names()


def list_methods() -> list[str]:
    _load_all()
    return METHODS.names()

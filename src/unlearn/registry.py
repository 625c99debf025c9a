"""Name -> object registries so tests and docs can enumerate what exists.

Configs still select objects by ``_target_``; the registries exist so that a new dataset,
arch or method is picked up by ``unlearn.catalogue.list_*()`` (and by the parametrised tests)
without anybody editing a list by hand. This module imports nothing that registers: the
catalogue, which imports all of it, sits at the top of the layers.
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

    def register(self, *names: str) -> Callable[[T], T]:
        """Several names for one object when the options are one class with a flag (``forget=random1``,
        ``random10``, ...): each config name is still a registry name."""
        def deco(obj: T) -> T:
            for name in names:
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
CORRUPTIONS: Registry = Registry("corruption")
FORGETS: Registry = Registry("forget")

"""Config values checked against the type hints of the code they will be passed to.

Without it a wrong-type value reaches the builder and fails inside it, in the builder's words:
``arch.net.hidden=[256]`` on fc1 said "int() argument must be ... not 'ListConfig'", naming
neither the key nor what it takes. The builder's own signature is the one place that says what
each key takes, so the check reads it instead of a second list that could drift from the code.
Hints it cannot judge (classes, callables, ``Any``) are left to the builder.
"""

from __future__ import annotations

import collections.abc as abc
import types
import typing
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from unlearn.errors import bad_value

_PLAIN = {int: "an int", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
_LISTS = (list, tuple, abc.Sequence)
_MAPS = (dict, abc.Mapping)


def _accepts(hint: Any, value: Any) -> bool | None:
    """True/False when the hint decides, None when it cannot judge."""
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        verdicts = [_accepts(a, value) for a in typing.get_args(hint)]
        return True if any(v is True for v in verdicts) else (None if None in verdicts else False)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (bool, str, type(None)):
        return isinstance(value, hint)
    if origin in _LISTS:
        return isinstance(value, list)
    if origin in _MAPS:
        return isinstance(value, dict)
    return None


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in _LISTS:
        return "a list"
    if origin in _MAPS:
        return "a mapping"
    return _PLAIN.get(hint, getattr(hint, "__name__", str(hint)))


def check_types(group: str, node: DictConfig, skip: tuple[str, ...] = ()) -> None:
    """Refuse, in one line, a key of ``node`` whose value its ``_target_`` cannot take."""
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if not target:
        return
    try:
        fn = get_method(target)
        hints = typing.get_type_hints(fn.__init__ if isinstance(fn, type) else fn)
        values = OmegaConf.to_container(node, resolve=True)
    except Exception:  # noqa: BLE001 - an unknown target or unresolvable value is reported by instantiate
        return
    name = target.rsplit(".", 1)[-1]
    for key, value in values.items():
        if key.startswith("_") or key in skip:
            continue
        if isinstance(node.get(key), DictConfig):  # a nested builder (dataset.source, ...)
            check_types(f"{group}.{key}", node[key])
            continue
        if key not in hints:
            continue
        if _accepts(hints[key], value) is False:
            raise bad_value(f"{group}.{key}", value, f"{_describe(hints[key])} ({name}'s {key})")

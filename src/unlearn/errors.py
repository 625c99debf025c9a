"""Errors that the entry points turn into one readable line instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterable


class UnlearnError(Exception):
    """Base class: anything raised as this is the user's to fix, not a bug."""


class ConfigError(UnlearnError, ValueError):
    """A config value is out of its allowed range or names something that does not exist."""


class DataUnavailableError(UnlearnError, FileNotFoundError):
    """Dataset files or pretrained weights are missing and cannot be downloaded here."""


def bad_value(key: str, value: object, allowed: str | Iterable[object]) -> ConfigError:
    """Build the one-line message every bad-input path uses: the key, the value, what is allowed."""
    if not isinstance(allowed, str):
        allowed = ", ".join(str(a) for a in allowed)
    return ConfigError(f"{key}={value!r} is not allowed; allowed: {allowed}")


def one_line(err: object, limit: int | None = None) -> str:
    """A third-party exception's text on one line (its type's name when it has none), to quote inside
    the project's own message: torchvision, safetensors and Lightning errors span several lines, and
    the entry points print exactly one. ``limit`` shortens it, ending in "..."."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."

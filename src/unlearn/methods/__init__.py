"""Unlearning / correction methods, one module each, registered by name."""

from unlearn.methods import cuts  # noqa: F401  (registers "cuts")

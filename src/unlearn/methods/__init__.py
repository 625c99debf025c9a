"""Unlearning / correction methods, one module each, registered by name."""

from unlearn.methods import cf, cuts, oracle, potion, sap  # noqa: F401  (each registers itself)

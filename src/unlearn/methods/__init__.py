"""Unlearning / correction methods, one module each, registered by name."""

# Importing each module registers its methods (@METHODS.register).
from unlearn.methods import (  # noqa: F401
    aamu,
    bad_teacher,
    cf,
    cuts,
    distill,
    finetune,
    fisher,
    neggrad,
    ntk,
    oracle,
    potion,
    retrain,
    sap,
    scrub,
    sparse,
    ssd,
)

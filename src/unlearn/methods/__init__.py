"""Unlearning / correction methods: one module per method, named as its config and its registry entry
(``conf/method/<x>.yaml`` -> ``methods/<x>.py`` -> ``METHODS["x"]``). What several methods share lives
in ``unlearn.unlearning`` (approximate unlearning) and ``unlearn.correction`` (CUTS and its baselines)."""

# Importing each module registers its method (@METHODS.register).
from unlearn.methods import (  # noqa: F401
    aamu_cf,
    aamu_scrub,
    aamu_sparse,
    bad_teacher,
    cf,
    cuts,
    finetune,
    fisher,
    kd,
    l1_sparse,
    neggrad,
    ntk,
    oracle,
    potion,
    prune,
    retrain,
    sap,
    scrub,
    ssd,
)

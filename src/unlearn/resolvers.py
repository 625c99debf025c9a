"""OmegaConf resolvers the configs use; registered when ``unlearn`` is imported.

``unlearn_retain_set`` names which of a reference's hyperparameter sets applies to an
unlearning method (``conf/hparams/``): ``cond`` when the method trains on a condensed retain
set (``condensation=`` anything but none, or ``condensed=<dir>``), else ``full``.
"""

from __future__ import annotations

from omegaconf import OmegaConf

NO_CONDENSATION = "unlearn.condense.none.NoCondensation"


def retain_set(condensation_target: str | None, condensed: str | None) -> str:
    if condensed or (condensation_target and condensation_target != NO_CONDENSATION):
        return "cond"
    return "full"


def register() -> None:
    if not OmegaConf.has_resolver("unlearn_retain_set"):
        OmegaConf.register_new_resolver("unlearn_retain_set", retain_set)

"""How a stage trains (its recipe) and the optimiser it names.

Apart from the LightningModule (``module.py``) so that the config check at start-up can merge
``stages.*`` into recipes without importing Lightning (a refusal should cost torch's import, not
Lightning's; see app/preflight.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


OPTIMIZERS = ("adamw", "sgd", "adam")


@dataclass
class Recipe:
    """How one stage trains (spec 3). Lengths are in epochs, or in steps if ``max_steps`` > 0.

    Scheduler positions (``warmup``, ``hold``) count in the unit of ``interval``.
    """

    max_epochs: int = 1
    max_steps: int = -1
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    warmup: int = 0
    # 0: warm-up from lr 0 (t / W, the CUTS reference); 1: from lr / W ((t + 1) / W, the Blend reference).
    warmup_offset: int = 0
    hold: int = 0
    eta_min: float = 0.0
    interval: str = "epoch"
    # Non-empty: the reference's "step" schedule (MultiStepLR) instead of warm-up/hold/cosine.
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    # AdamW (the CUTS recipes), SGD with momentum (the condensation / unlearning literature's) or Adam (A-AMU).
    optimizer: str = "adamw"
    momentum: float = 0.9

    def __post_init__(self) -> None:
        from unlearn.errors import bad_value

        if self.optimizer not in OPTIMIZERS:
            raise bad_value("optimizer", self.optimizer, OPTIMIZERS)
        if self.interval not in ("epoch", "step"):
            raise bad_value("interval", self.interval, ("epoch", "step"))
        if self.max_steps <= 0 and self.max_epochs <= 0:
            raise bad_value("max_epochs", self.max_epochs, "a positive number of epochs (or max_steps > 0)")
        if self.milestones and (self.warmup or self.hold):
            from unlearn.errors import ConfigError

            raise ConfigError("a stage recipe takes either milestones (step schedule) or warmup/hold (cosine), not both")
        if self.lr <= 0:
            raise bad_value("lr", self.lr, "a positive learning rate")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad_value("batch_size", self.batch_size, "a positive number of images per batch")
        if self.warmup_offset not in (0, 1):
            raise bad_value("warmup_offset", self.warmup_offset, "0 (warm-up from lr 0) or 1 (from lr / warmup)")


# A method's config key for each recipe field it sets under another name (method.epochs).
METHOD_KEYS = {"max_epochs": "epochs"}


def method_recipe(**fields: object) -> Recipe:
    """An unlearning method's recipe, from its own keys: a bad value is refused under the key the
    user typed (``method.epochs=0``), not the recipe field it fills (``max_epochs=0``)."""
    from unlearn.errors import ConfigError

    try:
        return Recipe(**fields)  # type: ignore[arg-type]
    except ConfigError as err:
        # bad_value's messages start with "<field>=<value>".
        name, sep, rest = str(err).partition("=")
        if sep and name in fields:
            raise ConfigError(f"method.{METHOD_KEYS.get(name, name)}={rest}") from None
        raise


def make_optimizer(params: list[torch.nn.Parameter], r: Recipe) -> torch.optim.Optimizer:
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    if r.optimizer == "adam":
        return torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)
    return torch.optim.AdamW(params, lr=r.lr, betas=(0.9, 0.999), weight_decay=r.weight_decay)

"""A quiet console: the stage progress (``unlearn.progress``), the final table and where the files went.

Third-party messages that say nothing to a user of this project are dropped from the console
by their exact text (``NOISE``), never by category: any other warning still shows. They stay
in the job log (``<run dir>/<task>.log``): warnings are routed through ``logging``
(``py.warnings``), and Lightning's own loggers, which attach a stderr handler of their own
when imported before Hydra configures logging, are pointed at the root handlers instead.
"""

from __future__ import annotations

import logging
import re

NOISE: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    # Lightning advertises its cloud products at every Trainer (one per stage).
    r"^💡 Tip: For seamless cloud (logging|uploads)",
    # Lightning's own use of torch's pytree API (lightning/pytorch/utilities/_pytree.py).
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # Metrics are logged once per epoch here, so the per-step logging interval never matters.
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    # In-memory tensors: worker processes would only add start-up time.
    r"The '\w+_dataloader' does not have many workers",
    # An unlearning fit's loader (unlearning/fit.py) yields whole batches of rows in the main
    # process; the caveat is about worker processes it never starts.
    r"Your `IterableDataset` has `__len__` defined\. In combination with multi-process data loading",
    # Said by every stage's Trainer; on a machine without those devices they say nothing
    # ("GPU available: True, used: False" still shows), and the progress bar shows a stage's end.
    r"^GPU available: False, used: False$",
    r"^TPU available: False, using: 0 TPU cores$",
    r"^`Trainer.fit` stopped: `max_(epochs|steps)=\d+` reached\.$",
    # open_clip narrates every model it builds (once per stage) on the root logger.
    r"^Parsing model identifier\. Schema: ",
    r"^Loaded built-in [\w.-]+ model config\.$",
))
# "lightning" has a stderr handler of its own; the subpackages add one when imported before logging is set up.
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


def is_noise(message: str) -> bool:
    return any(p.search(message) for p in NOISE)


class QuietConsole(logging.Filter):
    """For the console handler only (``conf/hydra/default.yaml``): drops ``NOISE``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_noise(record.getMessage())


def route_to_job_log() -> None:
    """Send warnings and Lightning's messages through the root handlers Hydra configured."""
    logging.captureWarnings(True)
    root = logging.getLogger()
    if not root.handlers:  # not under Hydra (tests, the Python API): leave logging as it is
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def import_lightning():  # noqa: ANN201 - the lightning module
    """Lightning, imported after the start-up check (app/preflight.py), with its loggers routed as
    ``route_to_job_log`` does: importing it attaches a stderr handler of its own."""
    import lightning

    route_to_job_log()
    return lightning

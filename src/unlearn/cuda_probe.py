"""A CPU run does not pay for a GPU probe at every optimiser step.

Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` when it is imported, so that asking whether a
GPU exists never initialises CUDA before a fork. torch's optimisers ask at every ``step()``, and
with a CUDA build of torch on a machine whose CUDA is not initialised, the NVML path loads the
NVML library again on each call: 0.14 ms a step measured here (0.17 vs 0.03 ms for an empty Adam
step), in a hand-written loop as much as under Lightning, once Lightning is imported. A Trainer
that runs on the CPU has no CUDA context to protect, so the variable is dropped for it, unless the
user set it before ``unlearn`` was imported.
"""

from __future__ import annotations

import os

from lightning.pytorch.accelerators import CPUAccelerator

VAR = "PYTORCH_NVML_BASED_CUDA_CHECK"


def cheap_on_cpu(trainer) -> None:
    import unlearn

    if isinstance(trainer.accelerator, CPUAccelerator) and unlearn.USER_NVML_CHECK is None:
        os.environ.pop(VAR, None)

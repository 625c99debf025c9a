"""unlearn: Hydra-composed Lightning framework for machine unlearning in image classification.

The distribution is called ``unlearn-bench`` (the PyPI name ``unlearn`` belongs to an
unrelated project); the import name is ``unlearn``.
"""

import os

# Read before Lightning is imported (it sets this variable): whether the user chose it (cuda_probe.py).
USER_NVML_CHECK = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")

from unlearn.errors import ConfigError, UnlearnError  # noqa: E402
from unlearn.resolvers import register as _register_resolvers  # noqa: E402

_register_resolvers()

__all__ = ["ConfigError", "UnlearnError"]
__version__ = "0.1.0"

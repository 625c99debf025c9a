"""unlearn: Hydra-composed Lightning framework for machine unlearning in image classification.

The distribution is called ``unlearn-bench`` (the PyPI name ``unlearn`` belongs to an
unrelated project); the import name is ``unlearn``.
"""

from unlearn.errors import ConfigError, UnlearnError
from unlearn.resolvers import register as _register_resolvers

_register_resolvers()

__all__ = ["ConfigError", "UnlearnError"]
__version__ = "0.1.0"

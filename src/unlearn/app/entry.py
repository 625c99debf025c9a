"""The guard around every entry point (the template's ``task_wrapper``, our way).

A user error (``UnlearnError``) becomes one line on stderr and exit status 2; any other
failure is logged with its traceback and re-raised. Either way the wandb run is closed,
so a Hydra multirun goes on to its next job.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from unlearn.errors import UnlearnError

log = logging.getLogger("unlearn")
F = TypeVar("F", bound=Callable[..., Any])


def _close_wandb() -> None:
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def guarded(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from unlearn.app.console import route_to_job_log

        route_to_job_log()  # Hydra has configured logging by now
        try:
            return fn(*args, **kwargs)
        except UnlearnError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        except Exception:
            log.exception("run failed")
            raise
        finally:
            _close_wandb()

    return wrapper  # type: ignore[return-value]

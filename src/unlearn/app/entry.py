"""The guard around every entry point (the template's ``task_wrapper``, our way).

A user error (``UnlearnError``) becomes one line on stderr and exit status 2, and so does a
full disk or a folder the job may not write to (naming the folder); any other failure is logged
with its traceback and re-raised. Either way the wandb run is closed,
so a Hydra multirun goes on to its next job.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from unlearn.errors import UnlearnError

log = logging.getLogger("unlearn")
F = TypeVar("F", bound=Callable[..., Any])
# Errors of the place a job writes to, not of the job: the user's to fix, in one line.
STORAGE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                  errno.EROFS: "it is on a read-only file system", errno.EACCES: "it is not writable",
                  errno.EPERM: "it is not writable"}


def storage_error(err: OSError) -> str | None:
    """One line for a write that failed because of where it went, else None."""
    if err.errno not in STORAGE_ERRNOS:
        return None
    where = os.path.dirname(os.path.abspath(err.filename)) if err.filename else "the output folder"
    return f"cannot write under {where}: {STORAGE_ERRNOS[err.errno]} ({os.strerror(err.errno)}); " \
           "free space or point paths.root_dir (UNLEARN_ROOT) elsewhere, then run the same command again"


def _close_wandb() -> None:
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def hydra_error_line(err: Exception) -> str:
    """Hydra's composition errors (an unknown option, a key that is not in the config, bad override
    syntax) as one line; Hydra itself prints a paragraph and the search path."""
    from hydra.errors import MissingConfigException

    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group, _, name = str(err.missing_cfg_file).rpartition("/")
        return f"{group}={name!r} is not allowed; allowed: {', '.join(sorted(err.options))}"
    text = " ".join(str(err).split())
    cause = err.__cause__
    if cause is not None and str(cause).split("\n")[0] not in text:
        text += f" ({str(cause).splitlines()[0].strip()})"
    return text


def _one_line_composition_errors() -> None:
    """Route Hydra's config-composition errors through ``hydra_error_line`` (exit status 2), leaving
    everything else, HYDRA_FULL_ERROR=1 included, as Hydra reports it."""
    from hydra._internal import utils
    from hydra.errors import CompactHydraException, ConfigCompositionException, OverrideParseException

    report = utils.run_and_report
    if getattr(report, "one_line", False):
        return

    def run_and_report(func: Callable[[], Any]) -> Any:
        def composed() -> Any:
            try:
                return func()
            except (ConfigCompositionException, OverrideParseException, CompactHydraException) as err:
                if os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                print(f"error: {hydra_error_line(err)}", file=sys.stderr)
                raise SystemExit(2) from None

        return report(composed)  # anything else: Hydra's own report

    run_and_report.one_line = True  # type: ignore[attr-defined]
    utils.run_and_report = run_and_report


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
        except OSError as err:
            line = storage_error(err)
            if line is None:
                log.exception("run failed")
                raise
            log.error("run failed: %s", err)  # the job log keeps the details
            print(f"error: {line}", file=sys.stderr)
            raise SystemExit(2) from None
        except Exception:
            log.exception("run failed")
            raise
        finally:
            _close_wandb()

    return wrapper  # type: ignore[return-value]


_one_line_composition_errors()

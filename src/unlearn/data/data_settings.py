"""The DataModule's own settings (fractions, sizes, batch sizes), checked without building it.

``CorruptionDataModule`` is a LightningDataModule, so building one imports Lightning (seconds);
the start-up check (app/preflight.py) refuses a bad ``dataset.*`` value before that import, and the
DataModule runs the same check when it is built, so there is one rule per key.
"""

from __future__ import annotations

from typing import Any

from unlearn.errors import bad_value


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_data_settings(heldout_fraction: Any = 0.1, heldout_size: Any = None, train_size: Any = None,
                        batch_size: Any = 64, eval_batch_size: Any = 1024, num_workers: Any = 0,
                        crop_padding: Any = 0, seed: Any = 11) -> None:
    """Refuse, in one line naming ``dataset.<key>``, a value no dataset could use; what depends on
    the data (a train_size above the split's size) is checked when the data loads."""
    if isinstance(heldout_fraction, bool) or not isinstance(heldout_fraction, (int, float)) \
            or not 0.0 <= float(heldout_fraction) < 1.0:
        raise bad_value("dataset.heldout_fraction", heldout_fraction, "a fraction in [0, 1)")
    for key, size in (("dataset.batch_size", batch_size), ("dataset.eval_batch_size", eval_batch_size)):
        if not _count(size) or size < 1:
            raise bad_value(key, size, "a positive number of images per batch")
    for key, size in (("dataset.train_size", train_size), ("dataset.heldout_size", heldout_size)):
        if size is not None and (not _count(size) or size < 1):
            raise bad_value(key, size, "null (the default) or a positive number of images")
    for key, count in (("dataset.num_workers", num_workers), ("dataset.crop_padding", crop_padding)):
        if not _count(count) or count < 0:
            raise bad_value(key, count, "a whole number >= 0")
    if not _count(seed) or not 0 <= seed < 2**32:
        raise bad_value("dataset.seed", seed, "an integer from 0 to 4294967295")


def holds_out(heldout_fraction: Any, heldout_size: Any) -> bool:
    """Whether a held-out (proxy) set will exist, known from the config without loading any data."""
    return heldout_size is not None or float(heldout_fraction) > 0

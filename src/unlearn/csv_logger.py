"""Lightning's CSV logger, except that a resumed run keeps what it logged before it was killed.

Lightning's writer deletes ``metrics.csv`` when it finds one in its folder. Our stages and
unlearning fits resume from ``last.ckpt`` by running the same command again, which reuses the same
log folder, so every row logged before the kill would be lost (and a job rerun into its own run
folder would lose the job's log). Here an existing file is kept and the resumed run appends to it;
the epochs after the last checkpoint are logged twice, under the same steps, which is what the
resumed training actually did. A fit that starts from scratch in a used folder (``keep=False``:
nothing to resume, the rows would describe weights that are being thrown away) starts a new file.
"""

from __future__ import annotations

import csv
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as fh:
            header = next(csv.reader(fh), [])
        # Lightning appends rows in sorted column order (and rewrites the whole file when a new
        # column comes), which lines up with a file it wrote; a file in another order is put in it.
        if header != sorted(header):
            self._rewrite_with_new_header(sorted(header))
        self.metrics_keys = sorted(header)


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resume; ``keep=False`` is Lightning's own."""

    def __init__(self, *args: Any, keep: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep = keep

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            writer = _AppendingWriter if self.keep else ExperimentWriter
            self._experiment = writer(log_dir=self.log_dir)
        return self._experiment

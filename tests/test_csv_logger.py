"""The CSV log of a resumed run keeps its earlier rows; a fresh start in a used folder does not."""

from __future__ import annotations

import csv

from unlearn.csv_logger import ResumableCSVLogger


def log(root, rows, keep=True):
    logger = ResumableCSVLogger(root, name="logs", version="", keep=keep)
    for step, metrics in enumerate(rows):
        logger.log_metrics(metrics, step=step)
    logger.save()
    with open(root / "logs" / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_resumed_log_appends_and_a_new_column_keeps_the_old_rows(tmp_path):
    first = log(tmp_path, [{"train/loss": 2.0}, {"train/loss": 1.5}])
    assert [r["train/loss"] for r in first] == ["2.0", "1.5"]
    resumed = log(tmp_path, [{"train/loss": 1.0, "val/acc": 0.5}])
    assert [r["train/loss"] for r in resumed] == ["2.0", "1.5", "1.0"]
    assert [r["val/acc"] for r in resumed] == ["", "", "0.5"]


def test_a_log_in_another_column_order_stays_aligned(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "metrics.csv").write_text("step,b,a\n0,2.0,1.0\n")
    rows = log(tmp_path, [{"a": 3.0, "b": 4.0}])
    assert [(r["a"], r["b"]) for r in rows] == [("1.0", "2.0"), ("3.0", "4.0")]


def test_keep_false_starts_a_new_file(tmp_path):
    log(tmp_path, [{"train/loss": 2.0}])
    assert [r["train/loss"] for r in log(tmp_path, [{"train/loss": 0.5}], keep=False)] == ["0.5"]


def test_logger_csv_is_the_resumable_one_and_a_rerun_into_its_folder_keeps_the_log(tmp_path):
    from conftest import compose_cfg
    from unlearn.app import build

    cfg = compose_cfg("correct", tmp_path, ["logger=csv"])
    first = build.job_logger(cfg)
    assert isinstance(first.base, ResumableCSVLogger)
    first.log({"knn/alpha": -0.5})
    first.base.save()
    again = build.job_logger(cfg)  # the same command, the same run folder
    again.log({"knn/alpha": -1.0})
    again.base.save()
    with open(tmp_path / "runs" / "run" / "csv" / "metrics.csv", newline="") as fh:
        assert [r["knn/alpha"] for r in csv.DictReader(fh)] == ["-0.5", "-1.0"]

"""What a CUTS run sends to its logger besides numbers: the alpha curve (and where the GIF goes)."""

from __future__ import annotations

import csv
from pathlib import Path
from unittest import mock

from PIL import Image

from unlearn.app.report import log_alpha_curve, plot_alpha_curve
from unlearn.stage_logger import JobLogger

CURVES = {"curve_alpha": [-0.05, -0.1, -0.15], "curve_test_acc": [0.8, 0.82, 0.81],
          "knn_alpha": [0.0, -0.05, -0.1], "knn_score": [0.4, 0.45, 0.44]}


def test_wandb_gets_line_plots_and_the_png(tmp_path: Path) -> None:
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    png = plot_alpha_curve(tmp_path / "alpha_curve.png", CURVES, {"alpha": -0.1})
    fake = mock.create_autospec(WandbLogger, instance=True)
    assert log_alpha_curve(JobLogger(fake), CURVES, png)
    (media,), kwargs = fake.log_metrics.call_args
    assert set(media) == {"alpha_curve/accuracy", "alpha_curve/knn_score", "alpha_curve/plot"}
    chart = media["alpha_curve/accuracy"]
    assert isinstance(chart, wandb.plot.CustomChart)
    assert chart.table.data == [[a, "test accuracy", t]  # the table behind the plot: (x, series, y) rows
                                for a, t in zip(CURVES["curve_alpha"], CURVES["curve_test_acc"])]
    knn = media["alpha_curve/knn_score"].table
    assert knn.get_column("alpha") == CURVES["knn_alpha"] and knn.get_column("knn_score") == CURVES["knn_score"]
    assert isinstance(media["alpha_curve/plot"], wandb.Image)


def test_poison_curve_carries_proxy_asr(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import WandbLogger

    curves = {"curve_alpha": [-0.05, -0.1], "curve_test_acc": [0.9, 0.88], "curve_proxy_asr": [1.0, 0.0]}
    fake = mock.create_autospec(WandbLogger, instance=True)
    assert log_alpha_curve(JobLogger(fake), curves)
    (media,), _ = fake.log_metrics.call_args
    assert set(media) == {"alpha_curve/accuracy"}
    assert sorted({row[1] for row in media["alpha_curve/accuracy"].table.data}) == ["proxy ASR", "test accuracy"]


def test_csv_gets_one_row_per_alpha_and_no_logger_nothing(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import CSVLogger

    assert not log_alpha_curve(JobLogger(None), CURVES)
    assert not log_alpha_curve(JobLogger(CSVLogger(tmp_path)), {"knn_alpha": [0.0]})  # a fixed alpha: no curve
    base = CSVLogger(tmp_path, name="c", version="")
    assert log_alpha_curve(JobLogger(base), CURVES)
    base.save()
    rows = list(csv.DictReader(open(tmp_path / "c" / "metrics.csv")))
    assert [float(r["alpha_curve/alpha"]) for r in rows] == CURVES["curve_alpha"]
    assert [float(r["alpha_curve/test_accuracy"]) for r in rows] == CURVES["curve_test_acc"]


def test_a_logger_with_images_gets_the_png(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    other = mock.Mock(spec=["log_image"])
    logger = JobLogger(None)
    logger.base = other
    assert log_alpha_curve(logger, CURVES, tmp_path / "a.png")
    other.log_image.assert_called_once_with(key="alpha_curve/plot", images=[str(tmp_path / "a.png")])

"""Bad values of the keys users set most, table-driven, for each entry point (correct.py, train.py,
condense.py): each is refused before any work with exit status 2 and one line on stderr naming the
key, the value and what is allowed; nothing is written under ``outputs/artifacts``. Run in-process through the entry point's guard (the same code path as
the command line, without a Python start-up per case); ``test_bad_input.py`` runs a sample of them
through real subprocesses, and ``bench/refusal_time.py`` measures how fast a refusal comes."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compose_cfg
from unlearn.app.condense import run_condense
from unlearn.app.correct import run_correct
from unlearn.app.train import run_train
from unlearn.app.entry import guarded
from unlearn.checkpoints import save_model
from unlearn.models.small_cnn import small_cnn

UNLEARN = ("method=aamu_cf", "forget=random10")

# (overrides, words the one line must hold)
CASES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    # rates and fractions: out of range and of the wrong type
    (("corruption.rate=1.5",), ("corruption.rate=1.5", "[0, 1]")),
    (("corruption.rate=-0.1",), ("corruption.rate=-0.1", "[0, 1]")),
    (("corruption.rate=abc",), ("corruption.rate='abc'", "a number (Symmetric's rate)")),
    (("corruption.target_class=12", "corruption=poison"), ("corruption.target_class=12", "0..9")),
    (("dataset.heldout_fraction=1.5",), ("dataset.heldout_fraction=1.5",)),
    (("dataset.heldout_fraction=-0.1",), ("dataset.heldout_fraction=-0.1",)),
    (("dataset.train_size=0",), ("dataset.train_size=0",)),
    (("dataset.train_size=-3",), ("dataset.train_size=-3",)),
    ((*UNLEARN[:1], "forget=random10", "forget.fraction=2"), ("forget.fraction=2",)),
    ((*UNLEARN, "unlearn.unseen_fraction=2"), ("unlearn.unseen_fraction=2",)),
    # counts, seeds, sizes
    (("seed=-1",), ("seed=-1", "0 to 4294967295")),
    (("seed=abc",), ("seed='abc'",)),
    ((*UNLEARN, "unlearn.rounds=0"), ("unlearn.rounds=0",)),
    ((*UNLEARN, "unlearn.shadows=-1"), ("unlearn.shadows=-1",)),
    ((*UNLEARN, "condensation=blend", "ipc=0"), ("ipc=0",)),
    (("stages.corrupted.batch_size=0",), ("batch_size=0",)),
    (("stages.corrupted.max_epochs=0",), ("max_epochs=0",)),
    (("stages.corrupted.lr=-1",), ("lr=-1",)),
    (("dataset.eval_batch_size=0",), ("dataset.eval_batch_size=0",)),
    (("dataset.eval_batch_size=abc",), ("dataset.eval_batch_size='abc'",)),
    (("stages.corrupted.batch_size=abc",), ("stages.corrupted.batch_size",)),
    # values of the wrong type for a builder's key: its signature says what it takes
    (("arch.net.hidden=[256]",), ("arch.net.hidden=[256]", "an int (fc1's hidden)")),
    (("arch.net.hidden=wide",), ("arch.net.hidden='wide'", "an int")),
    (("arch=clip_vitb16", "arch.model=ViT-L-14-quickgelo"), ("arch.model='ViT-L-14-quickgelo'", "ViT-L-14-quickgelu")),
    ((*UNLEARN, "condensation=blend", "condensation.momentum=fast"), ("condensation.momentum='fast'", "a number")),
    (("dataset.source.test_fraction=[1]",), ("dataset.source.test_fraction=[1]", "a number")),
    # alpha, devices, precision, unknown options
    (("method.alpha=0.5",), ("method.alpha=0.5",)),
    (("method.knn_k=-1",), ("method.knn_k=-1", "a positive number of neighbours")),  # once a traceback after training
    (("method.coverage=0",), ("method.coverage=0",)),
    (("method=l1_sparse", "forget=random10", "method.alpha=-1"), ("method.alpha=-1", "an L1 weight >= 0")),
    # a method's recipe keys, named as the user typed them (not the recipe's max_epochs)
    (("method=scrub", "forget=random10", "method.epochs=0"), ("method.epochs=0", "a positive number of epochs")),
    ((*UNLEARN, "method.batch_size=0"), ("method.batch_size=0", "a positive number of images")),
    (("trainer.devices=0",), ("trainer.devices=0", "a positive count")),
    (("trainer.devices=[]",), ("trainer.devices=[]", "a list of device indices")),
    (("trainer.precision=bogus",), ("trainer.precision='bogus'", "bf16-mixed")),
    (("trainer.accelerator=bogus",), ("trainer:", "bogus")),  # Lightning's own verdict, in one line
    (("eval_memory=gpu",), ("eval_memory='gpu'", "auto, host")),
    ((*UNLEARN, "unlearn.mia_phi=float16"), ("unlearn.mia_phi='float16'",)),
    # paths: missing, the wrong kind of file, truncated, another arch's weights
    (("corrupted_ckpt=/nonexistent/model.safetensors",), ("/nonexistent/model.safetensors",)),
    (("corrupted_ckpt=/etc/passwd",), ("/etc/passwd", "not a safetensors")),
    (("corrupted_ckpt={truncated}",), ("truncated.safetensors", "not a safetensors")),
    (("corrupted_ckpt={small_cnn}",), ("small_cnn", "fc1")),
    ((*UNLEARN, "condensed=/tmp"), ("condensed='/tmp'", "holds no condensed set")),
    ((*UNLEARN, "condensed=/nonexistent"), ("condensed='/nonexistent'",)),
]

# train.py: the stage name and the groups a stage trains with
TRAIN_CASES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("stage=bogus",), ("stage='bogus'", "original, corrupted")),
    (("stage=original",), ("stage='original'", "corruption=none")),
    (("stage=proxy", "corruption=none"), ("stage='proxy'", "a clean model has no proxy")),
    (("stage=retain", "forget=random10", "forget.fraction=0"), ("forget.fraction=0",)),
    (("corruption.rate=2",), ("corruption.rate=2", "[0, 1]")),
    (("corruption=asymmetric", "corruption.rate=-1"), ("corruption.rate=-1",)),
    (("stages.corrupted.lr=0",), ("lr=0",)),
    (("+stages.retian.lr=0.1",), ("stages.retian",)),
    (("dataset.heldout_fraction=1",), ("dataset.heldout_fraction=1", "[0, 1)")),
    (("dataset.num_workers=-2",), ("dataset.num_workers=-2",)),
    (("arch.net.hidden=wide",), ("arch.net.hidden='wide'", "an int")),
    (("arch=clip_vitb16", "arch.model=ViT-L-14-quickgelo"), ("arch.model='ViT-L-14-quickgelo'", "ViT-L-14-quickgelu")),
    (("seed=4294967296",), ("seed=4294967296",)),
    (("trainer.devices=-3",), ("trainer.devices=-3",)),
    (("trainer.precision=8",), ("trainer.precision=8",)),
]

# condense.py: the condenser, the forget request, the budget, a saved set to re-evaluate
CONDENSE_CASES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("ipc=0",), ("ipc=0",)),
    (("condensation=dm", "ipc=-1"), ("ipc=-1",)),
    (("condensation=dm", "condense_seconds=0"), ("condense_seconds=0", "a positive number of seconds")),
    (("condensation=dm", "checkpoint_seconds=-1"), ("checkpoint_seconds=-1", "a number of seconds >= 0")),
    (("condensation=gm", "condensation.momentum=fast"), ("condensation.momentum='fast'", "a number")),
    (("ipc=abc",), ("ipc='abc'",)),
    (("forget=random10", "forget.fraction=1.5"), ("forget.fraction=1.5",)),
    (("forget=class", "forget.classes=[12]"), ("forget.classes", "12")),
    (("dataset.source.test_fraction=[1]",), ("dataset.source.test_fraction=[1]", "a number")),
    (("seed=-1",), ("seed=-1",)),
    (("condensed=/tmp",), ("condensed='/tmp'", "holds no condensed set")),
    (("trainer.devices=0",), ("trainer.devices=0",)),
    (("evaluate.models=-1",), ("evaluate.models=-1", "0 skips")),
    (("evaluate.epochs=0",), ("evaluate.epochs=0", "a positive number of epochs")),
    (("evaluate.lr=abc",), ("evaluate.lr='abc'", "a number")),
]

ENTRIES = {"correct": run_correct, "train": run_train, "condense": run_condense}
ALL = [("correct", o, w) for o, w in CASES] + [("train", o, w) for o, w in TRAIN_CASES] \
    + [("condense", o, w) for o, w in CONDENSE_CASES]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("files")
    other = root / "small_cnn.safetensors"
    save_model(other, small_cnn((1, 8, 8), 10))
    truncated = root / "truncated.safetensors"
    truncated.write_bytes(other.read_bytes()[:200])
    return {"small_cnn": str(other), "truncated": str(truncated)}


@pytest.mark.parametrize("entry, overrides, words", ALL, ids=[f"{e}.py " + " ".join(o) for e, o, _ in ALL])
def test_refused_in_one_line_before_any_work(tmp_path: Path, capsys, files, entry, overrides, words):
    overrides = tuple(o.format(**files) for o in overrides)
    if entry == "condense" and not any(o.startswith("ipc=") for o in overrides):
        overrides = ("evaluate.models=0", *overrides)  # nothing would be trained before the refusal anyway
    cfg = compose_cfg(entry, tmp_path, ["logger=none", *overrides])
    with pytest.raises(SystemExit) as stop:
        guarded(ENTRIES[entry])(cfg)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1, err
    for word in words:
        assert word in err[0], err[0]
    assert not (tmp_path / "outputs" / "artifacts").exists()

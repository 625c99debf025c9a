"""The paper-table sweeps compose, and the aggregator turns real runs into the expected table."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from conftest import CONF, REPO, run_cli
from unlearn.app import build, preflight
from unlearn.app.tables import expand, load_tables, pivot, collect, write_table

TABLES = load_tables(REPO / "multirun" / "tables.yaml")


def test_expand_is_the_cartesian_product():
    assert expand("a=1,2 b=x c=3,4") == [["a=1", "b=x", "c=3"], ["a=1", "b=x", "c=4"],
                                         ["a=2", "b=x", "c=3"], ["a=2", "b=x", "c=4"]]


# Swept numbers that pick no config file: their first value composes exactly like the others,
# so composing one of them keeps every distinct combination of config choices (table43: 864 -> 288).
SCALAR_SWEEPS = ("seed=", "dataset.seed=")


def config_choices(sweep: str) -> str:
    return " ".join(word.split(",")[0] if word.startswith(SCALAR_SWEEPS) else word for word in sweep.split())


def test_config_choices_keep_one_value_of_scalar_sweeps_only():
    assert config_choices("method=a,b seed=0,1,2 dataset.seed=15,16 ipc=800") == "method=a,b seed=0 dataset.seed=15 ipc=800"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_job_of_every_table_composes(table):
    spec = TABLES[table]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        # A table at CPU scale already (scale: cpu, e.g. cuts/fmnist) needs no twin; every other one has both.
        kinds = ("sweeps",) if spec.get("scale") == "cpu" else ("sweeps", "cpu")
        for kind in kinds:
            assert spec[kind], (table, kind)
            for sweep in spec[kind]:
                for job in expand(config_choices(sweep)):
                    # ... and passes the start-up check each job runs (app/preflight.py: recipes,
                    # settings, every group's builder): no paper setting is refused by it.
                    if spec.get("script") == "condense":
                        cfg = compose("condense", overrides=job)
                        preflight.check(cfg)
                        assert build.build("condensation", cfg.condensation).ipc == cfg.ipc
                        continue
                    cfg = compose("correct", overrides=job)
                    preflight.check(cfg)
                    assert cfg.method._target_


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    sweep_dir = root / "sweep"
    proc = run_cli("correct.py", "-m", "experiment=cuts/cpu", "setting=sn40", "method=cuts,cf", "logger=none",
                   "trainer.enable_progress_bar=false", "stages.corrupted.max_epochs=3", "stages.proxy.max_epochs=3",
                   "stages.cf.max_epochs=2", "stages.proxy_seeds=[12]", f"hydra.sweep.dir={sweep_dir}", root=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep_dir


def test_aggregator_turns_two_runs_into_the_expected_table(tiny_sweep):
    runs = collect(tiny_sweep)
    assert sorted(ident["method"] for ident, _ in runs) == ["cf", "cuts"]
    by_method = {ident["method"]: m for ident, m in runs}
    header, rows = pivot(runs)
    assert len(rows) == 1  # one setting, two methods
    row = dict(zip(header, rows[0]))
    assert row["dataset"] == "digits" and row["setting"] == "sn40"
    assert row["corrupted"] == f"{100 * by_method['cuts']['corrupted_clean_acc']:.1f}"
    assert row["oracle"] == f"{100 * by_method['cuts']['oracle_clean_acc']:.1f}"
    for method in ("cuts", "cf"):
        assert row[method] == f"{100 * by_method[method]['clean_acc']:.1f}"
        assert row[f"{method} RR"] == f"{100 * by_method[method]['recovery']:.1f}"
    paths = write_table(tiny_sweep, "tiny")
    assert "| dataset |" in paths["md"].read_text() and paths["csv"].read_text().startswith("dataset,")
    with pytest.raises(FileExistsError):
        write_table(tiny_sweep, "tiny")


def test_seeds_are_averaged_into_mean_and_std():
    runs = [({"dataset": "d", "setting": "s", "method": "cuts", "seed": str(s)},
             {"clean_acc": acc, "corrupted_clean_acc": 0.5, "oracle_clean_acc": 0.9, "recovery": 0.1})
            for s, acc in ((0, 0.6), (1, 0.8))]
    header, rows = pivot(runs)
    row = dict(zip(header, rows[0]))
    assert row["cuts"] == "70.0 +- 14.1" and row["corrupted"] == "50.0 +- 0.0"


def test_run_py_dry_run_takes_flags_between_table_and_overrides():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(REPO / "multirun" / "run.py"), "cuts/table2", "--cpu", "logger=none",
                           "--dry-run"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cuts/table2 (cpu): 12 jobs compose and pass the start-up check" in proc.stdout
    proc = subprocess.run([sys.executable, str(REPO / "multirun" / "run.py"), "cuts/fmnist", "--dry-run"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cuts/fmnist: 112 jobs compose and pass the start-up check" in proc.stdout  # 2 archs x (5 noise x 4 + 2 poison x 4 methods) x 2 seeds
    twin = subprocess.run([sys.executable, str(REPO / "multirun" / "run.py"), "cuts/fmnist", "--cpu", "--dry-run"],
                          capture_output=True, text=True, timeout=300)
    assert twin.returncode != 0 and "--cpu" in twin.stderr and "cuts/fmnist" in twin.stderr
    bad = subprocess.run([sys.executable, str(REPO / "multirun" / "run.py"), "cuts/table99"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "cuts/table99" in bad.stderr and "cuts/table1" in bad.stderr


def test_a_bad_value_in_a_sweep_is_refused_by_the_dry_run_naming_the_job():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(REPO / "multirun" / "run.py"), "cuts/table2", "--cpu", "--dry-run",
                           "trainer.devices=0"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "trainer.devices=0 is not allowed" in proc.stderr and "(job: correct.py " in proc.stderr, proc.stderr


def test_poison_tables_show_asr_and_pus_not_recovery():
    runs = [({"dataset": "d", "setting": "p10", "method": m},
             {"clean_acc": 0.97, "corrupted_clean_acc": 0.98, "oracle_clean_acc": 0.981, "recovery": -10.0,
              "asr": asr, "corrupted_asr": 1.0, "pus": 0.97 * (1 - asr)}) for m, asr in (("cuts", 0.0), ("potion", 0.5))]
    header, rows = pivot(runs)
    assert not [h for h in header if h.endswith("RR")]
    row = dict(zip(header, rows[0]))
    assert row["cuts ASR"] == "0.0" and row["potion PUS"] == "48.5" and row["corrupted ASR"] == "100.0"


def test_a_sweep_of_noise_and_poison_writes_one_table_each(tmp_path):
    import csv
    import json

    def run(i, setting, method, metrics):
        run_dir = tmp_path / str(i)
        (run_dir / ".hydra").mkdir(parents=True)
        hydra = {"hydra": {"runtime": {"choices": {"dataset": "d", "arch": "fc1", "setting": setting}},
                           "overrides": {"task": [f"method={method}"]}}}
        (run_dir / ".hydra" / "hydra.yaml").write_text(json.dumps(hydra))
        (run_dir / "metrics.json").write_text(json.dumps(metrics))

    run(0, "sn40", "cuts", {"clean_acc": 0.8, "corrupted_clean_acc": 0.7, "oracle_clean_acc": 0.9, "recovery": 0.5,
                            "corrupted_noisy_train_fit": 0.75})
    run(1, "p10", "cuts", {"clean_acc": 0.6, "corrupted_clean_acc": 0.88, "oracle_clean_acc": 0.88, "recovery": -9.0,
                           "asr": 0.02, "corrupted_asr": 1.0, "pus": 0.588})
    paths = write_table(tmp_path, "mixed")
    md = paths["md"].read_text()
    assert "#### label noise" in md and "#### poison" in md
    noise_block, poison_block = md.split("#### poison")
    assert "cuts RR" in noise_block and "corrupted fit" in noise_block and "cuts ASR" not in noise_block
    assert "cuts ASR" in poison_block and "cuts PUS" in poison_block and "cuts RR" not in poison_block
    table = list(csv.DictReader(paths["csv"].open()))
    assert [(r["table"], r["setting"]) for r in table] == [("label noise", "sn40"), ("poison", "p10")]
    assert (table[0]["cuts RR"], table[0]["cuts ASR"], table[1]["cuts ASR"], table[1]["cuts RR"]) == ("50.0", "", "2.0", "")


def test_unlearning_runs_pivot_into_one_row_per_method_and_round():
    base = {"forget_acc": 0.9, "retain_acc": 0.99, "test_acc": 0.95, "mia": 52.0, "mia_loss": 55.0,
            "forget_acc_gap_to_retrain": 0.01, "mia_gap_to_retrain": 2.0, "seconds_unlearn": 1.5,
            "test_acc_gap_to_retrain": 0.02, "seconds_retrain": 4.0}
    rounds = {f"round{r}_{k}": v + r for r in (0, 1) for k, v in base.items()}
    runs = [({"dataset": "d", "forget": "random10", "condensation": "none", "method": "aamu_cf"}, {**base, **rounds}),
            ({"dataset": "d", "forget": "random10", "condensation": "none", "method": "retrain"}, {**base, **rounds})]
    header, rows = pivot(runs)
    assert header[:5] == ["dataset", "forget", "condensation", "round", "method"]
    assert [r[3:5] for r in rows] == [["0", "retrain"], ["0", "aamu_cf"], ["1", "retrain"], ["1", "aamu_cf"]]
    row = dict(zip(header, rows[3]))
    assert row["forget acc"] == "190.0" and row["MIA"] == "53.0" and row["s unlearn"] == "2.5"
    assert row["test gap"] == "102.0" and row["x retrain"] == "0.50" and "LiRA gap" not in row


def test_blend_halves_and_the_lira_attack_get_their_own_columns():
    base = {"forget_acc": 0.9, "retain_acc": 0.99, "test_acc": 0.95, "mia": 52.0, "mia_loss": 55.0,
            "forget_acc_gap_to_retrain": 0.01, "mia_gap_to_retrain": 2.0, "seconds_unlearn": 1.5,
            "free_retain_acc": 0.98, "residual_retain_acc": 0.97, "mia_lira": 61.0, "mia_lira_gap_to_retrain": 4.0}
    runs = [({"dataset": "d", "forget": "random10", "condensation": "blend", "unlearn.ablation": v,
              "method": "l1_sparse"}, base) for v in ("v4", "v2")]
    header, rows = pivot(runs)
    assert "unlearn.ablation" in header and [r[header.index("unlearn.ablation")] for r in rows] == ["v2", "v4"]
    row = dict(zip(header, rows[0]))
    assert (row["free retain acc"], row["residual retain acc"], row["MIA (LiRA)"]) == ("98.0", "97.0", "61.0")
    assert row["LiRA gap"] == "4.0" and row["x retrain"] == ""  # no retrain time recorded: no ratio


def test_tradeoff_figures_one_per_request_with_seeds_averaged(tmp_path):
    from unlearn.app.tradeoff_plot import plot_tradeoffs, tradeoff_points

    def run(method, condensation, seed, seconds, test_acc):
        ident = {"dataset": "fashion_mnist", "forget": "random10", "condensation": condensation,
                 "method": method, "seed": str(seed)}
        return ident, {"seconds_unlearn": seconds, "test_acc": test_acc, "mia_gap_to_retrain": 1.0,
                       "mia_lira_gap_to_retrain": 2.0}

    runs = [run("retrain", "none", 0, 100.0, 0.9), run("retrain", "none", 1, 120.0, 0.8),
            run("aamu_cf", "blend", 0, 5.0, 0.85), ({"method": "cuts", "setting": "sn40"}, {"clean_acc": 0.5})]
    points = tradeoff_points(runs)
    assert list(points) == [("fashion_mnist", "random10")]  # the CUTS run has no point
    retrain = next(p for p in points[("fashion_mnist", "random10")] if p["method"] == "retrain")
    assert retrain["seconds"] == 110.0 and abs(retrain["test_acc"] - 0.85) < 1e-12
    paths = plot_tradeoffs(runs, tmp_path)
    assert [p.name for p in paths] == ["tradeoff_fashion_mnist_random10.png"] and paths[0].stat().st_size > 10_000
    with pytest.raises(FileExistsError):
        plot_tradeoffs(runs, tmp_path)


def _run_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("multirun_run", REPO / "multirun" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failed_sweep_does_not_stop_the_others(tmp_path, jobs):
    import sys

    run = _run_py()
    marker = tmp_path / "third_ran"
    cmds = [[sys.executable, "-c", "pass"], [sys.executable, "-c", "raise SystemExit(3)"],
            [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]]
    failed = run.run_sweeps(cmds, tmp_path / "out", jobs)
    assert len(failed) == 1 and failed[0].startswith("sweep 1 (exit 3") and marker.exists()


def test_run_py_writes_the_table_of_the_finished_sweeps_and_exits_nonzero(tiny_sweep, tmp_path, monkeypatch):
    import shutil
    import sys

    run = _run_py()

    def one_finished_one_failed(cmds, out, jobs):
        shutil.copytree(tiny_sweep, out / "0")
        return [f"sweep 1 (exit 1, log {out / '1.log'})"]

    monkeypatch.setattr(run, "run_sweeps", one_finished_one_failed)
    monkeypatch.setenv("UNLEARN_ROOT", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["run.py", "cuts/table2", "--cpu", "logger=none"])
    with pytest.raises(SystemExit, match=r"sweep 1 \(exit 1.*holds the jobs that finished"):
        run.main()
    (table,) = (tmp_path / "outputs" / "multirun" / "cuts_table2_cpu").glob("*/table.md")
    text = table.read_text()
    assert "incomplete: 1 of 1 sweeps failed" in text and "| sn40 |" in text  # cuts/table2 --cpu: one sweep

"""Run one paper table's sweeps (or their CPU twin) and aggregate them into table.md / table.csv.

    python multirun/run.py cuts/table1 [--cpu] [--dry-run] [extra overrides ...]
    python multirun/run.py --list

Every sweep in multirun/tables.yaml becomes one ``python correct.py -m ...`` (or condense.py) under
outputs/multirun/<table>[_cpu]/<time>/<i>; upstream models are shared through the artifact
store, so rows that reuse a corrupted model train it once. ``--dry-run`` composes every job
of the table with Hydra and runs each job's start-up check on it (nothing trains; a bad value
anywhere in the sweep is refused in one line naming the job), then prints the job count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from unlearn.app.tables import expand, load_tables, write_table  # noqa: E402

TABLES = REPO / "multirun" / "tables.yaml"


def compose_all(sweeps: list[str], extra: list[str], script: str = "correct") -> int:
    """Compose every job and run the start-up check each job runs (app/preflight.py) on it, so a bad
    value anywhere in a sweep is refused before any job starts; returns the number of jobs."""
    from hydra import compose, initialize_config_dir

    from unlearn.app import preflight
    from unlearn.errors import UnlearnError

    jobs = 0
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for sweep in sweeps:
            for job in expand(" ".join([sweep, *extra])):
                try:
                    preflight.check(compose(script, overrides=job))
                except UnlearnError as err:
                    sys.exit(f"error: {err} (job: {script}.py {' '.join(job)})")
                jobs += 1
    return jobs


def run_sweeps(cmds: list[list[str]], out: Path, jobs: int) -> list[str]:
    """One sweep after another, or ``jobs`` at a time: side by side, each gets its share of the cores
    (oversubscribed threads make small-model steps several times slower) and a log file of its own.

    A sweep that fails does not stop the others (a night's sweeps should not end with the first
    crash): returns the failed ones, each named with its exit status and log."""
    if jobs == 1:
        failed = []
        for i, cmd in enumerate(cmds):
            print("+", " ".join(cmd[1:]), flush=True)
            code = subprocess.run(cmd).returncode
            if code:
                failed.append(f"sweep {i} (exit {code}, its console above)")
        return failed
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs))}
    out.mkdir(parents=True, exist_ok=True)
    pending, running, failed = list(enumerate(cmds)), [], []
    while pending or running:
        while pending and len(running) < jobs:
            i, cmd = pending.pop(0)
            log = open(out / f"{i}.log", "w")  # noqa: SIM115  (closed when the sweep ends)
            print("+", " ".join(cmd[1:]), f"> {out / f'{i}.log'}", flush=True)
            running.append((i, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        time.sleep(1.0)
        for job in [j for j in running if j[1].poll() is not None]:
            running.remove(job)
            job[2].close()
            if job[1].returncode:
                failed.append(f"sweep {job[0]} (exit {job[1].returncode}, log {out / f'{job[0]}.log'})")
    return sorted(failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every job")
    parser.add_argument("--cpu", action="store_true", help="the CPU-scale twin on bundled digits")
    parser.add_argument("--dry-run", action="store_true", help="compose every job, run nothing")
    parser.add_argument("--jobs", type=int, default=1,
                        help="sweeps run side by side (each with OMP_NUM_THREADS = cores / jobs; its console "
                             "goes to <out>/<i>.log)")
    parser.add_argument("--wandb", action="store_true", help="also log the table and figures to a wandb run")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_intermixed_args()  # flags may sit between the table and its overrides
    tables = load_tables(TABLES)
    if args.list or not args.table:
        for name, spec in tables.items():
            print(f"{name:14s} {spec['title']}")
        return
    if args.table not in tables:
        sys.exit(f"error: table={args.table!r} is not allowed; allowed: {', '.join(tables)}")
    spec = tables[args.table]
    if args.cpu and "cpu" not in spec:
        sys.exit(f"error: --cpu is not allowed for {args.table}, which runs on a CPU as it is; drop --cpu")
    sweeps = spec["cpu" if args.cpu else "sweeps"]
    script = spec.get("script", "correct")  # the entry point: correct.py or condense.py
    if args.dry_run:
        print(f"{args.table}{' (cpu)' if args.cpu else ''}: {compose_all(sweeps, args.overrides, script)} jobs compose and pass the start-up check")
        return
    root = Path(os.environ.get("UNLEARN_ROOT", ".")).resolve()
    name = args.table.replace("/", "_") + ("_cpu" if args.cpu else "")
    out = root / "outputs" / "multirun" / name / time.strftime("%Y-%m-%d_%H-%M-%S")
    if args.jobs < 1:
        sys.exit(f"error: --jobs={args.jobs} is not allowed; allowed: a positive number of sweeps at a time")
    cmds = [[sys.executable, str(REPO / f"{script}.py"), "-m", *sweep.split(), *args.overrides,
             f"hydra.sweep.dir={out}/{i}"] for i, sweep in enumerate(sweeps)]
    failed = run_sweeps(cmds, out, args.jobs)
    title = f"{args.table}: {spec['title']}" + (" (CPU twin, digits)" if args.cpu else "")
    if failed:
        title += f" (incomplete: {len(failed)} of {len(cmds)} sweeps failed)"
    try:
        paths = write_table(out, title)
    except FileNotFoundError:
        if not failed:
            raise
        sys.exit("error: " + "; ".join(failed) + f"; no job finished, so no table under {out}")
    print(paths["md"].read_text())
    print("written:", paths["md"], paths["csv"], *paths["plots"])
    if args.wandb:
        from unlearn.app.tradeoff_plot import log_to_wandb

        log_to_wandb(paths["plots"], paths["md"], name)
    if failed:  # the table above holds the jobs that finished; the exit status says it is not whole
        sys.exit("error: " + "; ".join(failed) + f"; {paths['md']} holds the jobs that finished")


if __name__ == "__main__":
    main()

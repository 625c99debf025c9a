"""Run one paper table's sweeps (or their CPU twin) and aggregate them into table.md / table.csv.

    python multirun/run.py cuts/table1 [--cpu] [--dry-run] [extra overrides ...]
    python multirun/run.py --list

Every sweep in multirun/tables.yaml becomes one ``python correct.py -m ...`` (or condense.py) under
outputs/multirun/<table>[_cpu]/<time>/<i>; upstream models are shared through the artifact
store, so rows that reuse a corrupted model train it once. ``--dry-run`` composes every job
of the table with Hydra (nothing trains) and prints the job count.
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
    from hydra import compose, initialize_config_dir

    jobs = 0
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for sweep in sweeps:
            for job in expand(" ".join([sweep, *extra])):
                compose(script, overrides=job)
                jobs += 1
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every job")
    parser.add_argument("--cpu", action="store_true", help="the CPU-scale twin on bundled digits")
    parser.add_argument("--dry-run", action="store_true", help="compose every job, run nothing")
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
        print(f"{args.table}{' (cpu)' if args.cpu else ''}: {compose_all(sweeps, args.overrides, script)} jobs compose")
        return
    root = Path(os.environ.get("UNLEARN_ROOT", ".")).resolve()
    name = args.table.replace("/", "_") + ("_cpu" if args.cpu else "")
    out = root / "outputs" / "multirun" / name / time.strftime("%Y-%m-%d_%H-%M-%S")
    for i, sweep in enumerate(sweeps):
        cmd = [sys.executable, str(REPO / f"{script}.py"), "-m", *sweep.split(), *args.overrides,
               f"hydra.sweep.dir={out}/{i}"]
        print("+", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
    paths = write_table(out, f"{args.table}: {spec['title']}" + (" (CPU twin, digits)" if args.cpu else ""))
    print(paths["md"].read_text())
    print(f"written: {paths['md']} {paths['csv']}")


if __name__ == "__main__":
    main()

"""Aggregate any sweep directory into table.md / table.csv (what multirun/run.py does at the end).

    python multirun/aggregate.py outputs/correct/multiruns/<time> [--title "..."]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from unlearn.app.tables import write_table  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--title", default="")
    parser.add_argument("--wandb", action="store_true", help="also log the table and figures to a wandb run")
    args = parser.parse_args()
    paths = write_table(args.sweep_dir, args.title)
    print(paths["md"].read_text())
    print("written:", paths["md"], paths["csv"], *paths["plots"])
    if args.wandb:
        from unlearn.app.tradeoff_plot import log_to_wandb

        log_to_wandb(paths["plots"], paths["md"], args.sweep_dir.name)

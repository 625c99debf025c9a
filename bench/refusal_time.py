"""How fast a bad value is refused, from one run: per case, the whole command (Python start-up,
imports, Hydra, our checks) and our own part of it (entry guard to the one-line error, in-process).

The issue's target is a refusal in under a second before any work; start-up alone (torch,
Lightning, Hydra imports) is most of a command's time, so both are printed, with their ratio.

    python bench/refusal_time.py            # every case of tests/test_bad_input_table.py
    python bench/refusal_time.py --limit 5  # the first five
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    from conftest import compose_cfg
    from test_bad_input_table import CASES

    from unlearn.app.correct import run_correct
    from unlearn.app.entry import guarded
    from unlearn.checkpoints import save_model
    from unlearn.models.small_cnn import small_cnn

    cases = CASES[: args.limit] if args.limit else CASES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        other = root / "small_cnn.safetensors"
        save_model(other, small_cnn((1, 8, 8), 10))
        (root / "truncated.safetensors").write_bytes(other.read_bytes()[:200])
        files = {"small_cnn": str(other), "truncated": str(root / "truncated.safetensors")}
        env = {**os.environ, "UNLEARN_ROOT": str(root), "WANDB_MODE": "offline"}
        for i, (overrides, _) in enumerate(cases):
            overrides = tuple(o.format(**files) for o in overrides)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, str(REPO / "correct.py"), "logger=none", *overrides],
                                  cwd=root, env=env, capture_output=True, text=True)
            whole = time.perf_counter() - t0
            cfg = compose_cfg("correct", root / f"in_{i}", ["logger=none", *overrides])
            t1 = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):
                guarded(run_correct)(cfg)
            ours = time.perf_counter() - t1
            rows.append((" ".join(overrides), proc.returncode, whole, ours))
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  exit  command s  our part s  ours/command")
    for case, code, whole, ours in rows:
        print(f"{case:<{width}}  {code:>4}  {whole:9.2f}  {ours:10.3f}  {ours / whole:12.3f}")
    print(f"median: command {statistics.median(r[2] for r in rows):.2f} s, our part "
          f"{statistics.median(r[3] for r in rows):.3f} s; slowest our part {max(r[3] for r in rows):.3f} s")


if __name__ == "__main__":
    main()

"""How fast a bad value is refused, from one run: per case of the bad-input table (correct.py,
train.py, condense.py), the whole command (Python start-up, imports, Hydra, our checks), our own
part of it (entry guard to the one-line error, in-process) and whether Lightning was imported
before the refusal (the start-up check, app/preflight.py, runs before it is).

The issue's targets: our part under a second, the whole command under 5 s. Start-up is most of a
command's time, so the bench also times ``import torch`` and ``import lightning`` alone.

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

# Runs an entry point as ``python <script> ...`` would, then says whether Lightning was imported.
PROBE = ("import runpy, sys\nsys.argv = sys.argv[1:]\ntry:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
         "finally:\n    print('lightning imported:', 'lightning' in sys.modules)\n")


def _seconds(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    from conftest import compose_cfg
    from test_bad_input_table import ALL, ENTRIES

    from unlearn.app.entry import guarded
    from unlearn.checkpoints import save_model
    from unlearn.models.small_cnn import small_cnn

    cases = ALL[: args.limit] if args.limit else ALL
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        other = root / "small_cnn.safetensors"
        save_model(other, small_cnn((1, 8, 8), 10))
        (root / "truncated.safetensors").write_bytes(other.read_bytes()[:200])
        files = {"small_cnn": str(other), "truncated": str(root / "truncated.safetensors")}
        env = {**os.environ, "UNLEARN_ROOT": str(root), "WANDB_MODE": "offline"}
        imports = {m: _seconds([sys.executable, "-c", f"import {m}"], env, root)[0] for m in ("torch", "lightning")}
        for i, (entry, overrides, _) in enumerate(cases):
            overrides = tuple(o.format(**files) for o in overrides)
            if entry == "condense" and not any(o.startswith("ipc=") for o in overrides):
                overrides = ("evaluate.models=0", *overrides)
            whole, proc = _seconds([sys.executable, "-c", PROBE, str(REPO / f"{entry}.py"), "logger=none",
                                    *overrides], env, root)
            cfg = compose_cfg(entry, root / f"in_{i}", ["logger=none", *overrides])
            t1 = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):
                guarded(ENTRIES[entry])(cfg)
            ours = time.perf_counter() - t1
            lightning = "lightning imported: True" in proc.stdout
            rows.append((f"{entry}.py " + " ".join(overrides), proc.returncode, whole, ours, lightning))
    width = max(len(r[0]) for r in rows)
    print(f"import torch alone {imports['torch']:.2f} s, import lightning alone {imports['lightning']:.2f} s")
    print(f"{'case':<{width}}  exit  command s  our part s  lightning imported")
    for case, code, whole, ours, lightning in rows:
        print(f"{case:<{width}}  {code:>4}  {whole:9.2f}  {ours:10.3f}  {'yes' if lightning else 'no'}")
    slow = [r for r in rows if r[2] >= 5.0]
    print(f"median: command {statistics.median(r[2] for r in rows):.2f} s (max {max(r[2] for r in rows):.2f}), "
          f"our part {statistics.median(r[3] for r in rows):.3f} s (max {max(r[3] for r in rows):.3f}); "
          f"{sum(r[4] for r in rows)} of {len(rows)} imported Lightning; {len(slow)} took 5 s or more"
          + (": " + "; ".join(r[0] for r in slow) if slow else ""))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# DM at its paper length (20,000 iterations) on Fashion-MNIST, 10 per class, then 3 evaluation nets:
# the one measurement issue 16's "Blend >= 100x faster than DM at accuracy >= DM's" still needs
# (~11 min of build at the 30 iterations/s one H200 ran). It runs in pieces that fit a 10-minute
# command: each piece stops after PIECE_SECONDS, and the same command goes on from the build's last
# resume point (written every 20 s to its artifact folder), until it prints the table.
#   bash bench/gpu_dm_paper.sh                 # again until it ends with exit 0
#   bash bench/gpu_dm_paper.sh ipc=50          # extra overrides go to condense.py
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled UNLEARN_ROOT=${UNLEARN_ROOT:-$PWD}
[ -d .devsite ] && export PYTHONPATH="$PWD/src:$PWD/.devsite:${PYTHONPATH:-}"
timeout "${PIECE_SECONDS:-540}" python3 condense.py experiment=condense/fmnist condensation=dm ipc=10 \
  checkpoint_seconds=20 evaluate.models=3 logger=none trainer.enable_progress_bar=false "$@"
code=$?
[ "$code" -eq 124 ] && echo "stopped after ${PIECE_SECONDS:-540} s: run the same command again to go on from the last resume point"
exit "$code"

#!/usr/bin/env bash
# The checks one GPU session runs (by hand, on a machine with one CUDA GPU; CI has none):
#   1. the condensation comparison on Fashion-MNIST, `multirun/run.py condense/fmnist`: every job in
#      turn, so each build's seconds are its own (DM / IDM / GM on a wall-clock budget);
#   2. the GPU + bf16 path end to end: a CUTS run and an A-AMU-with-Blend run (trainer=gpu).
# Everything it made (tables, metrics, condensed.png, logs) is packed into $OUT/gpu_check.tgz
# (OUT defaults to the repository root). Needs the Fashion-MNIST files (README: Datasets) and the
# project's packages; .devsite/, when present, is put on PYTHONPATH for machines without them.
#   bash bench/gpu_check.sh     # CONDENSE_TIMEOUT=450 PATH_TIMEOUT=120 PATH_CHECKS='cuts aamu' by default
set -u
cd "$(dirname "$0")/.."
out=${OUT:-$PWD}
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled UNLEARN_ROOT=${UNLEARN_ROOT:-$PWD}
[ -d .devsite ] && export PYTHONPATH="$PWD/src:$PWD/.devsite:${PYTHONPATH:-}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, lightning; print('torch', torch.__version__, '| lightning', lightning.__version__, '| cuda', torch.cuda.is_available())"
start=$(date +%s)
timeout "${CONDENSE_TIMEOUT:-450}" python3 multirun/run.py condense/fmnist logger=none >"$out/condense.log" 2>&1
echo "condense/fmnist: exit $? after $(( $(date +%s) - start )) s"
grep -A20 "^| dataset" "$out/condense.log" | head -8
declare -A paths=([cuts]="trainer=gpu"
                   [aamu]="experiment=unlearn/cpu method=aamu_cf forget=random10 condensation=blend trainer=gpu")
for name in ${PATH_CHECKS:-cuts aamu}; do
  t0=$(date +%s)
  timeout "${PATH_TIMEOUT:-120}" python3 correct.py ${paths[$name]} logger=none trainer.enable_progress_bar=false \
    "hydra.run.dir=outputs/gpu_path/$name" >"$out/path_$name.log" 2>&1
  echo "path $name: exit $? after $(( $(date +%s) - t0 )) s"; tail -15 "$out/path_$name.log"
done
tar czf "$out/gpu_check.tgz" --exclude='*.ckpt' outputs/multirun outputs/gpu_path "$out"/*.log 2>/dev/null
ls -la "$out"

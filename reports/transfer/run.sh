#!/bin/bash
# The lecture's fine-tuning table (seed 004) on Fashion-MNIST: pre-train a narrow ResNet-18 on
# classes 0-4 (T-shirt, trouser, pullover, dress, coat), then learn classes 5-9 (sandal, shirt,
# sneaker, bag, ankle boot) from 100 or 5,000 examples: from scratch, a linear classifier on top
# or on stage 2 / 3, fine-tuning the last stage, fine-tuning everything.
# Usage (from the repository root): bash reports/transfer/run.sh   (runs already completed are kept)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-runs/transfer}
COMMON=(--dataset=fashion_mnist --model=resnet18 --width_multiplier=0.25 --optimizer=sgd
        --momentum=0.9 --nesterov --lr_schedule=cosine --weight_decay=5e-4 --pad_crop_pixels=2
        --flip=horizontal --verbose=2)

run() {  # run DIR FLAGS...: skips a completed run
  local dir=$1; shift
  if grep -qs '"status": "completed"' "$dir/summary.json"; then return; fi
  nice -n 15 "$PY" -m tfreg.run "${COMMON[@]}" "$@" --run_dir="$dir" --overwrite
}

run "$RUNS/pretrain" --classes=0,1,2,3,4 --epochs=2 --batch_size=128 --learning_rate=0.1
declare -A SIZE=(
  [little]="--train_examples=100 --batch_size=25 --epochs=10"
  [more]="--train_examples=5000 --batch_size=128 --epochs=3")
declare -A MODE=(
  [scratch]="--learning_rate=0.1"
  [linear_top]="--init_from=$RUNS/pretrain --trainable_stages=none --learning_rate=0.05"
  [linear_stage3]="--init_from=$RUNS/pretrain --probe_stage=3 --trainable_stages=none --learning_rate=0.05"
  [linear_stage2]="--init_from=$RUNS/pretrain --probe_stage=2 --trainable_stages=none --learning_rate=0.05"
  [finetune_stage4]="--init_from=$RUNS/pretrain --trainable_stages=4 --learning_rate=0.05"
  [finetune_all]="--init_from=$RUNS/pretrain --learning_rate=0.05")
for size in little more; do
  for mode in scratch linear_top linear_stage3 linear_stage2 finetune_stage4 finetune_all; do
    # shellcheck disable=SC2086
    run "$RUNS/$size/$mode" --classes=5,6,7,8,9 ${SIZE[$size]} ${MODE[$mode]}
  done
done

"$PY" - "$RUNS" reports/transfer/results.csv <<'PY'
import csv, sys
from tfreg.runs import load_run
runs, out = sys.argv[1], sys.argv[2]
rows = []
for size in ("little", "more"):
    for mode in ("scratch", "linear_top", "linear_stage3", "linear_stage2", "finetune_stage4", "finetune_all"):
        s = load_run(f"{runs}/{size}/{mode}").summary
        rows.append({"data": size, "mode": mode, "status": s["status"],
                     "test_accuracy": round(s["final_test_accuracy"], 4),
                     "train_accuracy": round(s["final_train_accuracy"], 4),
                     "trainable_params": s["params"], "train_time_s": round(s["train_time_s"], 1)})
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader(); w.writerows(rows)
for r in rows:
    print(r)
PY

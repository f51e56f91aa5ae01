#!/usr/bin/env bash
# The mechanism study (ALGORITHM.md §18): uniform and direction runs on a
# popularity-shift split, a checkpoint every EVERY epochs (train
# --save-every), then `cnsdiff bench mechanism --csv` on every checkpoint,
# gathered into OUTDIR/mechanism.csv (run,seed,epoch,quantity,group,value);
# the per-epoch accuracies stay in OUTDIR/RUN-SEED.csv (train --log).
# docs/bench/mechanism_plot.py draws the figures from OUTDIR.
#
# usage: docs/bench/mechanism_study.sh SPLITDIR OUTDIR [EPOCHS] [SEEDS] [EVERY]
#   SPLITDIR  a `cnsdiff split` directory: train.txt, valid.txt, valid_ood.txt,
#             test_iid.txt, test_ood.txt
#   OUTDIR    logs, checkpoints (OUTDIR/ck, ~11 MB each on Food) and
#             mechanism.csv; outside the repository
#   EPOCHS    default 40; SEEDS default "1"; EVERY default 2
# Environment: CNSDIFF (the tool, default build/cnsdiff), JOBS parallel
# runs (default 2, one thread each), MEASURE_ONLY=1 to skip training (e.g.
# to measure the checkpoints of runs still going). A run whose log is
# complete is not trained again; a checkpoint already measured is not
# measured again.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
split=$1
out=$2
epochs=${3:-40}
seeds=${4:-1}
every=${5:-2}
tool=${CNSDIFF:-$here/build/cnsdiff}
jobs=${JOBS:-2}
mkdir -p "$out/ck" "$out/measure"

train_one() { # RUN SEED
  local run=$1 seed=$2 args
  case $run in
    uniform) args=(--sampler uniform) ;;
    direction) args=(--preset direction) ;;
  esac
  local log=$out/$run-$seed.csv
  if [ -f "$log" ] && [ "$(wc -l <"$log")" -gt "$epochs" ]; then return; fi
  "$tool" train --train "$split/train.txt" --valid "$split/valid.txt" --test "$split/valid_ood.txt" \
    --test "$split/test_iid.txt" --test "$split/test_ood.txt" "${args[@]}" --seed "$seed" --threads 1 \
    --epochs "$epochs" --eval-every 1 --patience 0 --log "$log" --report "$out/$run-$seed.json" \
    --save-every "$every" "$out/ck/$run-$seed" --quiet >"$out/$run-$seed.out"
}
export -f train_one
export out epochs every tool split
if [ "${MEASURE_ONLY:-0}" != 1 ]; then
  for seed in $seeds; do for run in uniform direction; do echo "$run $seed"; done; done |
    xargs -P "$jobs" -L 1 bash -c 'train_one "$0" "$1"'
fi

# ĉ is the direction-mode vector of the run's seed, for uniform runs too
# (the control: nothing should align with it there).
for f in "$out"/ck/*.e[0-9][0-9][0-9] "$out"/ck/*.e[0-9][0-9][0-9][0-9]; do
  [ -f "$f" ] || continue         # an unmatched pattern; temporaries end in .tmp-XXXXXX
  name=$(basename "$f")           # RUN-SEED.eNNN
  m=$out/measure/$name.csv
  [ -s "$m" ] && continue
  seed=${name#*-}; seed=${seed%%.*}
  "$tool" bench mechanism --model "$f" --seed "$seed" --csv \
    --test "$split/valid.txt" --test "$split/valid_ood.txt" --test "$split/test_iid.txt" \
    --test "$split/test_ood.txt" >"$m.tmp"
  mv "$m.tmp" "$m"
done
{
  echo "run,seed,epoch,quantity,group,value"
  for m in "$out"/measure/*.csv; do
    name=$(basename "$m" .csv)
    run=${name%%-*}; seed=${name#*-}; seed=${seed%%.*}; epoch=$((10#${name##*.e}))
    tail -n +2 "$m" | sed "s/^/$run,$seed,$epoch,/"
  done
} >"$out/mechanism.csv"
echo "wrote $out/mechanism.csv"

#!/usr/bin/env bash
# The sampler study (docs/BENCHMARKS.md): every variant x seed on one
# dataset, each run logging validation and test metrics per epoch, so that
# summarize.py can select each run once by validation NDCG@20 and once by
# validation IPS-NDCG@20 from the same log (test splits are never used to
# select), and by any other --select-by rule (summarize.py --rules).
#
# usage: docs/bench/study.sh DATASET OUTDIR [EPOCHS] [SEEDS] [VARIANTS]
#   DATASET  food | coat | world | DIR (a directory holding train.txt, valid.txt,
#            valid_ood.txt, test_iid.txt and test_ood.txt, as `cnsdiff split` and
#            `cnsdiff world --out` write them; valid_ood.txt is passed as a --test
#            so that the log records it: it never stops or selects a run; the runs
#            are named after the directory, with '-' turned into '_')
#   OUTDIR   where logs and reports go (outside the repo)
#   EPOCHS   budget per run (default 120: the mixing horizon of §8)
#   SEEDS    e.g. "1 2 3" (default)
#   VARIANTS subset of the names below (default all)
# Environment: CNSDIFF (the tool, default build/cnsdiff), SHARED (default
# ../shared), JOBS parallel runs (default 2, one thread each), PATIENCE
# (default 20 evaluations) and SELECT (default ips_ndcg@20): the rule that
# stops each run. A log ends where its run stopped, so summarize.py can
# only apply a rule that would stop no later; PATIENCE=0 keeps every epoch
# of the budget for any rule.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dataset=$1
out=$2
epochs=${3:-120}
seeds=${4:-"1 2 3"}
variants=${5:-"uniform dns cnsdiff cnsdiff_ns0.3 cnsdiff_ns1.0 cnsdiff_wide reference ref_nocl ref_nomix ref_gauss"}
tool=${CNSDIFF:-$here/build/cnsdiff}
shared=${SHARED:-$here/../shared}
jobs=${JOBS:-2}
patience=${PATIENCE:-20}
select=${SELECT:-ips_ndcg@20}
mkdir -p "$out"

case $dataset in
  food) data=(--train "$shared/data/food/train.txt" --valid "$shared/data/food/valid_iid.txt"
              --test "$shared/data/food/test_iid.txt" --test "$shared/data/food/test_ood.txt") ;;
  coat) data=(--train "$shared/data/coat/train.txt" --valid-fraction 0.1
              --test "$shared/data/coat/test_ood.txt") ;;
  world)
    wdir=$out/world-data
    [ -f "$wdir/train.txt" ] || { mkdir -p "$wdir" && "$tool" world --out "$wdir" --seed 1 >/dev/null; }
    data=(--train "$wdir/train.txt" --valid "$wdir/valid.txt"
          --test "$wdir/test_iid.txt" --test "$wdir/test_ood.txt") ;;
  *)
    [ -f "$dataset/valid_ood.txt" ] || { echo "unknown dataset $dataset" >&2; exit 2; }
    data=(--train "$dataset/train.txt" --valid "$dataset/valid.txt" --test "$dataset/valid_ood.txt"
          --test "$dataset/test_iid.txt" --test "$dataset/test_ood.txt")
    dataset=$(basename "$dataset" | tr - _) ;;
esac

variant_args() {
  case $1 in
    uniform) echo "--sampler uniform" ;;
    dns) echo "--sampler dns" ;;
    # Every CNSDiff variant spells out mode and mixing, so it does not
    # depend on the tool's default configuration.
    cnsdiff) echo "--sampler cnsdiff --mode trained --set mixing=1" ;;
    cnsdiff_ns0.3) echo "--sampler cnsdiff --mode trained --set mixing=1 --set noise_scale=0.3" ;;
    cnsdiff_ns1.0) echo "--sampler cnsdiff --mode trained --set mixing=1 --set noise_scale=1.0" ;;
    cnsdiff_wide) echo "--sampler cnsdiff --mode trained --set mixing=1 --set sample_start=2 --set stride=8" ;;
    reference) echo "--sampler cnsdiff --mode reference --set mixing=1" ;;
    ref_nocl) echo "--sampler cnsdiff --mode reference --set mixing=1 --set cl_weight=0" ;;
    ref_nomix) echo "--sampler cnsdiff --mode reference --set mixing=0" ;;
    ref_gauss) echo "--sampler cnsdiff --mode gaussian --set mixing=1" ;;
    # The named presets (ALGORITHM.md §15), and the direction control of §16.
    paper) echo "--sampler cnsdiff --preset paper" ;;
    paper_code) echo "--sampler cnsdiff --preset paper-code" ;;
    direction) echo "--sampler cnsdiff --preset direction" ;;
    # The direction mode with another weight of the contrastive term (§9):
    # direction_cl0.15 is cl_weight 0.15. (Its vector's norm is no knob with
    # mixing 0: §9 normalises every negative.)
    direction_cl*) echo "--sampler cnsdiff --preset direction --set cl_weight=${1#direction_cl}" ;;
    # The direction mode ranked with a discount on its axis (ALGORITHM.md §16):
    # direction_d0.25 removes a quarter of every item's component along it.
    direction_d*) echo "--sampler cnsdiff --preset direction --set score_discount=${1#direction_d}" ;;
    # A trained denoiser's diverse h in the contrastive term, next to the
    # direction's repulsion (ALGORITHM.md §19), no mixing into BPR.
    trained_repel) echo "--sampler cnsdiff --mode trained --set repel=1 --set mixing=0" ;;
    *) echo "unknown variant $1" >&2; return 1 ;;
  esac
}

run_one() {
  local v=$1 s=$2
  local tag="$dataset-$v-s$s"
  [ -f "$out/$tag.json" ] && return 0
  # shellcheck disable=SC2046
  "$tool" train "${data[@]}" $(variant_args "$v") --seed "$s" --threads 1 \
    --epochs "$epochs" --patience "$patience" --select-by "$select" --set curriculum_epochs=120 \
    --log "$out/$tag.csv" --report "$out/$tag.json" --quiet > "$out/$tag.out" 2> "$out/$tag.err" \
    || echo "FAILED $tag (see $out/$tag.err)" >&2
}

running=0
for s in $seeds; do
  for v in $variants; do
    run_one "$v" "$s" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  done
done
wait

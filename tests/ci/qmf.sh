#!/usr/bin/env bash
# CI stage "qmf": libcnsdiff inside a real, independently written host.
# Quora's QMF (../shared/hosts/qmf, never copied into this project) is
# built twice in a temporary directory: stock, and with
# examples/hosts/qmf/cnsdiff-bpr.patch applied, whose --cnsdiff flag makes
# its BPR engine take CNSDiff negatives (reference mode) and the BPR plus
# contrastive gradients from libcnsdiff (cns_rows_gather,
# cns_sampler_stream_draw_rows, cns_loss_compute_rows), applied with QMF's
# own SGD; its two Hogwild tasks draw from one shared sampler, each through
# its own cns_sampler_stream. Both train on Food (../shared/data/food) for a few epochs; the stage
# prints each run's per-epoch times and QMF's own test metrics (AUC, P@20,
# R@20 on the same sampled test users) and fails when a build or a run
# fails, when the patch grows past 80 changed lines, or when the patched
# run's test AUC is not above 0.55 (it learned nothing).
#
# A clone without ../shared (a user's) skips cleanly: "qmf: SKIP", exit 0.
#
# usage: tests/ci/qmf.sh                 (from anywhere)
# env:   CNS_QMF_EPOCHS  epochs per run (default 5)
#        CNS_JOBS        parallel build jobs (default 2)
#        CNS_QMF_KEEP    set to keep the temporary directory
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
shared=$root/../shared
qmf_src=$shared/hosts/qmf
food=$shared/data/food
patch_file=$root/examples/hosts/qmf/cnsdiff-bpr.patch
epochs=${CNS_QMF_EPOCHS:-5}
jobs=${CNS_JOBS:-2}

if [ ! -f "$qmf_src/CMakeLists.txt" ] || [ ! -f "$food/train.txt" ] || [ ! -f "$food/test_iid.txt" ]; then
  echo "qmf: SKIP (no ../shared/hosts/qmf or ../shared/data/food beside this clone)"
  exit 0
fi
for h in glog/logging.h gflags/gflags.h; do
  if [ ! -f "/usr/include/$h" ]; then
    echo "qmf: missing /usr/include/$h: install libgoogle-glog-dev libgflags-dev liblapack-dev" >&2
    exit 1
  fi
done

# The patch is held to the QMF-side size the issue promised.
changed=$(grep -c '^[+-]\([^+-]\|$\)' "$patch_file" || true)
echo "qmf: patch $(basename "$patch_file"): $changed changed lines on the QMF side"
if [ "$changed" -gt 80 ]; then
  echo "qmf: the patch changes $changed lines, more than 80" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cns-qmf.XXXXXX")
if [ -z "${CNS_QMF_KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; else echo "qmf: keeping $work"; fi

echo "qmf: building libcnsdiff (Release) into $work/prefix"
cmake -S "$root" -B "$work/lib" -DCMAKE_BUILD_TYPE=Release -DCNS_BUILD_TESTS=OFF \
  -DCNS_BUILD_TOOLS=OFF >"$work/lib.log" 2>&1 || { cat "$work/lib.log"; exit 1; }
cmake --build "$work/lib" -j"$jobs" >>"$work/lib.log" 2>&1 || { tail -40 "$work/lib.log"; exit 1; }
cmake --install "$work/lib" --prefix "$work/prefix" >>"$work/lib.log" 2>&1 || { tail -40 "$work/lib.log"; exit 1; }

build_qmf() { # <name>
  local name=$1 dir=$work/$1
  cp -r "$qmf_src" "$dir"
  if [ "$name" = patched ]; then
    (cd "$dir" && patch -p1 --quiet <"$patch_file") || { echo "qmf: the patch does not apply" >&2; return 1; }
  fi
  echo "qmf: building $name QMF"
  (cd "$dir" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" &&
    cmake --build build -j"$jobs" --target bpr) >"$work/$name-build.log" 2>&1 ||
    { tail -40 "$work/$name-build.log"; return 1; }
}
build_qmf stock
build_qmf patched

run_qmf() { # <name> [extra flags...]
  local name=$1
  shift
  echo "qmf: running $name QMF for $epochs epochs on Food"
  local start=$SECONDS
  "$work/$name/build/bin/bpr" \
    --train_dataset="$food/train.txt" --test_dataset="$food/test_iid.txt" \
    --nepochs="$epochs" --nfactors=32 --num_negative_samples=3 \
    --num_hogwild_threads=2 --nthreads="$jobs" \
    --test_avg_metrics=auc,p@20,r@20 --num_test_users=2000 --eval_seed=42 \
    "$@" >"$work/$name.log" 2>&1 || { tail -40 "$work/$name.log"; return 1; }
  # glog stamps every line: an epoch's time is from the previous epoch's
  # line (or "training") to its own loss line.
  awk -v name="$name" -v wall=$((SECONDS - start)) '
    function t(s,  a) { split(s, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
    / training$/ { prev = t($2) }
    /\] epoch [0-9]+: train loss/ {
      now = t($2); times = times sprintf(" %.1f", now - prev); prev = now
      loss = $0; sub(/.*epoch /, "epoch ", loss)
    }
    /recorded metric test_avg_/ { m = $0; sub(/.*test_avg_/, "", m); metrics = metrics " " m }
    END {
      printf "qmf: %s: epoch times (s):%s; last %s\n", name, times, loss
      printf "qmf: %s: test metrics:%s (wall %d s)\n", name, metrics, wall
    }' "$work/$name.log"
}
run_qmf stock
run_qmf patched --cnsdiff

auc=$(sed -n 's/.*recorded metric test_avg_auc = \([0-9.eE+-]*\).*/\1/p' "$work/patched.log" | tail -1)
if [ -z "$auc" ] || ! awk -v a="$auc" 'BEGIN { exit !(a > 0.55) }'; then
  echo "qmf: the patched run's test AUC '${auc}' is not above 0.55" >&2
  exit 1
fi
echo "qmf: passed"

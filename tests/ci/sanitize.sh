#!/usr/bin/env bash
# CI stage "sanitizers": every ctest test of a -DCNS_SANITIZE=ON build
# (GCC AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer) in
# its own build directory. Any report fails the stage: the library is
# compiled with -fno-sanitize-recover=all, ASan aborts on its first error
# and LeakSanitizer makes the process (or Check's forked test) exit non-zero.
#
# usage: tests/ci/sanitize.sh            (from anywhere)
# env:   CNS_SANITIZE_BUILD_DIR  build directory (default build-sanitize)
#        CNS_JOBS                parallel build and test jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${CNS_SANITIZE_BUILD_DIR:-build-sanitize}
jobs=${CNS_JOBS:-2}

# -O1 keeps stack traces readable and the suites quick; warnings are
# already gated by the -DCNS_WERROR=ON build, and GCC's extra warnings at
# some optimisation levels under -fsanitize are not this stage's business.
cmake -S . -B "$dir" -DCNS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG="-g -O1"
cmake --build "$dir" -j"$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir "$dir" --output-on-failure -j"$jobs"

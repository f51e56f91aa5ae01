#!/usr/bin/env bash
# CI stage "tsan": the thread suites under ThreadSanitizer. Builds the
# library and the suites with clang -fsanitize=thread (no CMake option: the
# flags go in through CMAKE_C_FLAGS and the linker flags) in its own build
# directory, then runs test_threads and test_trainer (the latter with
# CNS_MODEL_THREADS / CNS_SAMPLER_THREADS = 2 inside) with
# TSAN_OPTIONS=halt_on_error=1: any data race or other report fails the
# stage.
#
# OpenBLAS is not TSan-instrumented. The suites run with
# OPENBLAS_NUM_THREADS=1, so OpenBLAS starts no pool threads and every
# BLAS call runs on the calling thread; tests/ci/tsan.supp, limited to
# frames in libopenblas, is passed in case OpenBLAS's uninstrumented
# internals still show up in a report (docs/RELIABILITY.md).
#
# usage: tests/ci/tsan.sh                (from anywhere)
# env:   CNS_TSAN_BUILD_DIR  build directory (default build-tsan)
#        CNS_JOBS            parallel build jobs (default 2)
#        CC                  compiler (default clang; gcc works too)
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${CNS_TSAN_BUILD_DIR:-build-tsan}
jobs=${CNS_JOBS:-2}
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "tsan: $cc not found (Debian package clang)" >&2; exit 1; }

flags="-fsanitize=thread -fno-omit-frame-pointer -g -O1"
cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCNS_BUILD_TOOLS=OFF >/dev/null
cmake --build "$dir" -j"$jobs" --target test_threads test_trainer

export OPENBLAS_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/ci/tsan.supp"
# No fork per test: TSan then sees the whole process, and a report ends it.
export CK_FORK=no
export CK_DEFAULT_TIMEOUT=300
fail=0
for t in test_threads test_trainer; do
  echo "tsan: $t"
  if ! "$dir/tests/$t"; then
    echo "tsan: FAIL: $t" >&2
    fail=1
  fi
done
[ "$fail" -eq 0 ] || exit 1
echo "tsan: OK: test_threads test_trainer, 0 reports"

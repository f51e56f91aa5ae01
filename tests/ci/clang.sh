#!/usr/bin/env bash
# CI stage "clang": the library, the tool and every ctest test built with
# clang and -Werror in their own build directory. Hosts embed the library
# with either compiler; clang has its own warnings, and its default
# floating-point contraction once made the AVX-512 and SSE2 kernels round
# differently (CMakeLists.txt now turns contraction off for both), which
# only a clang build's bit-identity tests can catch.
#
# usage: tests/ci/clang.sh               (from anywhere)
# env:   CNS_CLANG_BUILD_DIR  build directory (default build-clang)
#        CNS_JOBS             parallel build and test jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${CNS_CLANG_BUILD_DIR:-build-clang}
jobs=${CNS_JOBS:-2}
command -v clang >/dev/null || { echo "clang: clang not found (Debian package clang)" >&2; exit 1; }

cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCNS_WERROR=ON
cmake --build "$dir" -j"$jobs"
ctest --test-dir "$dir" --output-on-failure -j"$jobs"

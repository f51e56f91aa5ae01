#!/usr/bin/env bash
# Installs the current build into a fresh prefix and builds
# tests/consumer/consumer.c against it the two ways users do:
#   1. plain cc with `pkg-config --cflags --libs cnsdiff`;
#   2. a CMake project with find_package(cnsdiff) (shared and static twin).
# Every binary is run and its output compared with what consumer.c must
# print for its fixed input. Registered as ctest test `consumer` by
# tests/consumer.cmake.
#
# usage: run.sh <source dir> <build dir> <work dir> <install libdir> <version>
# env:   CNS_CONSUMER_CC     compiler for the pkg-config build (default cc)
#        CNS_CONSUMER_FLAGS  extra compile+link flags (instrumented builds)
set -euo pipefail

src=$1 build=$2 work=$3 libdir=$4 version=$5
cc=${CNS_CONSUMER_CC:-cc}
flags=${CNS_CONSUMER_FLAGS:-}

fail() { echo "consumer: FAIL: $*" >&2; exit 1; }

# What consumer.c prints for its three pairs (0,1) (1,2) (0,1).
expected="version $version
users 2 items 3 interactions 2 duplicates 1
ok"

check_run() { # <label> <command...>
  local label=$1 out
  shift
  out=$("$@") || fail "$label exited with status $?"
  [ "$out" = "$expected" ] || fail "$label printed:
$out
expected:
$expected"
  echo "consumer: $label OK"
}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" \
  || { cat "$work/install.log" >&2; fail "cmake --install"; }
libpath=$prefix/$libdir
[ -f "$libpath/pkgconfig/cnsdiff.pc" ] || fail "no $libpath/pkgconfig/cnsdiff.pc"

# ---- 1. pkg-config + plain cc -------------------------------------------
# PKG_CONFIG_PATH is searched before the system dirs, which still supply
# openblas.pc for Requires.private.
export PKG_CONFIG_PATH=$libpath/pkgconfig
pcver=$(pkg-config --modversion cnsdiff)
[ "$pcver" = "$version" ] || fail "pkg-config --modversion says $pcver, expected $version"
cflags=$(pkg-config --cflags cnsdiff)
libs=$(pkg-config --libs cnsdiff)
# The .pc must describe the prefix it was installed into, not the one
# configured at build time.
[[ " $cflags " == *" -I$prefix/include "* ]] || fail "pkg-config --cflags: '$cflags' lacks -I$prefix/include"
[[ " $libs " == *" -L$libpath "* ]] || fail "pkg-config --libs: '$libs' lacks -L$libpath"
# shellcheck disable=SC2086 # flag lists are meant to split
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $flags $cflags \
  "$src/tests/consumer/consumer.c" -o "$work/consumer_pc" $libs \
  || fail "pkg-config build ($cc $flags $cflags ... $libs)"
ldd_out=$(LD_LIBRARY_PATH=$libpath ldd "$work/consumer_pc")
grep -q "libcnsdiff.so.[0-9]* => $libpath/" <<<"$ldd_out" \
  || fail "consumer_pc does not load libcnsdiff from $libpath:
$ldd_out"
check_run "pkg-config build" env LD_LIBRARY_PATH="$libpath" "$work/consumer_pc"

# ---- 2. CMake find_package ------------------------------------------------
unset PKG_CONFIG_PATH
cmake -S "$src/tests/consumer" -B "$work/cmake" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DCNS_EXPECT_PREFIX="$prefix" \
  -DCNS_EXPECT_VERSION="$version" >"$work/cmake-configure.log" 2>&1 \
  || { cat "$work/cmake-configure.log" >&2; fail "configuring the find_package project"; }
cmake --build "$work/cmake" --parallel 2 >"$work/cmake-build.log" 2>&1 \
  || { cat "$work/cmake-build.log" >&2; fail "building the find_package project"; }
# The shared build finds the library through the RPATH CMake gives it,
# so run it without LD_LIBRARY_PATH.
ldd_out=$(env -u LD_LIBRARY_PATH ldd "$work/cmake/consumer")
grep -q "libcnsdiff.so.[0-9]* => $libpath/" <<<"$ldd_out" \
  || fail "cmake consumer does not load libcnsdiff from $libpath:
$ldd_out"
check_run "find_package build (cnsdiff::cnsdiff)" env -u LD_LIBRARY_PATH "$work/cmake/consumer"
# The static twin must not need the shared library at all.
if env -u LD_LIBRARY_PATH ldd "$work/cmake/consumer_static" | grep -q libcnsdiff; then
  fail "consumer_static depends on libcnsdiff.so"
fi
check_run "find_package build (cnsdiff::cnsdiff_static)" env -u LD_LIBRARY_PATH "$work/cmake/consumer_static"

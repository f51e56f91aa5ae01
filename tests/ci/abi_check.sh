#!/usr/bin/env bash
# CI stage "abi": compares a fresh build of the shared library with the
# committed baseline abi/libcnsdiff.so.<major>.abi using abidiff. Added
# functions are allowed (--no-added-syms); any other reported change
# (removed or changed function, changed public type, enum value, struct
# layout) fails, and so does a changed or removed public constant
# (abi/constants.txt: enumerators and integer macros, which abidiff cannot
# see when they travel as int). Skips, successfully, while no baseline is
# committed.
# The export/SONAME check (tests/check_exports.sh) runs on the same build.
#
# usage: tests/ci/abi_check.sh
# env:   CNS_ABI_BUILD_DIR  build directory (default build-abi)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=abi/common.sh
. abi/common.sh

cns_abi_build
major=$(sed -n 's/^#define CNS_VERSION_MAJOR \([0-9]*\)$/\1/p' "$CNS_ABI_BUILD_DIR/include/cnsdiff/version.h")
bash tests/check_exports.sh "$CNS_ABI_LIB" "libcnsdiff.so.$major" include/cnsdiff

baseline=abi/$(basename "$CNS_ABI_LIB").abi
if [ ! -f "$baseline" ]; then
  echo "abi: SKIP: no baseline $baseline yet; create it with abi/update.sh when the API is frozen (docs/ABI.md)"
  exit 0
fi
command -v abidiff >/dev/null || { echo "abi: abidiff not found (Debian package abigail-tools)" >&2; exit 1; }

# The fresh build is dumped exactly like the baseline, then the two dumps
# are compared. (Giving abidiff the headers directly, --hd2, would treat
# every type declared outside them as private and hide, for instance, an
# int32_t parameter becoming int64_t.)
current=$CNS_ABI_BUILD_DIR/$(basename "$baseline")
abidw "${CNS_ABIDW_FLAGS[@]}" --out-file "$current" "$CNS_ABI_LIB"
# abidiff's exit status is a bit field (1 error, 2 usage, 4 change,
# 8 incompatible change): anything but 0 fails the stage.
set +e
report=$(abidiff --no-added-syms "$baseline" "$current" 2>&1)
status=$?
set -e
fail=0
if [ "$status" -ne 0 ]; then
  echo "$report"
  echo "abi: FAIL: $CNS_ABI_LIB differs from $baseline (abidiff status $status)." >&2
  fail=1
fi

# Constants: every baseline line must still be there unchanged; new
# constants are fine. CNS_METRIC_COUNT is documented to grow.
if [ -f abi/constants.txt ]; then
  cns_abi_constants "$CNS_ABI_BUILD_DIR/constants.txt"
  lost=$(LC_ALL=C comm -23 abi/constants.txt "$CNS_ABI_BUILD_DIR/constants.txt" |
         while read -r name value; do
           now=$(awk -v n="$name" '$1 == n { print $2 }' "$CNS_ABI_BUILD_DIR/constants.txt")
           if [ "$name" = CNS_METRIC_COUNT ] && [ -n "$now" ] && [ "$now" -ge "$value" ]; then continue; fi
           echo "  $name was $value, now ${now:-gone}"
         done)
  if [ -n "$lost" ]; then
    echo "abi: FAIL: public constants changed or removed:" >&2
    echo "$lost" >&2
    fail=1
  fi
else
  echo "abi: FAIL: $baseline exists but abi/constants.txt does not; rerun abi/update.sh" >&2
  fail=1
fi

if [ "$fail" -ne 0 ]; then
  echo "abi: if the change is deliberate and versioned, see docs/ABI.md." >&2
  exit 1
fi
echo "abi: OK: $CNS_ABI_LIB matches $baseline and abi/constants.txt"

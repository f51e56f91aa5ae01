#!/usr/bin/env bash
# Regenerates the ABI baseline: abi/libcnsdiff.so.<major>.abi with abidw
# (abigail-tools) from a RelWithDebInfo build of the shared library, and
# abi/constants.txt, the values of the public enumerators and integer
# macros. Only types declared in the public headers are recorded
# (--headers-dir), so internal structs may change freely. Run it only for a deliberate,
# versioned ABI change (docs/ABI.md) and commit the result with the change.
#
# usage: abi/update.sh
# env:   CNS_ABI_BUILD_DIR  build directory (default build-abi)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=abi/common.sh
. abi/common.sh

cns_abi_build
out=abi/$(basename "$CNS_ABI_LIB").abi
abidw "${CNS_ABIDW_FLAGS[@]}" --out-file "$out" "$CNS_ABI_LIB"
echo "abi: wrote $out from $CNS_ABI_LIB ($(grep -c '<elf-symbol ' "$out") ELF symbols)"
cns_abi_constants abi/constants.txt
echo "abi: wrote abi/constants.txt ($(wc -l <abi/constants.txt) enumerators and macros)"

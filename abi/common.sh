# Shared by abi/update.sh and tests/ci/abi_check.sh (sourced, not run):
# builds the shared library with debug info in its own directory and
# names the flags that keep the ABI dump to the public API.

CNS_ABI_BUILD_DIR=${CNS_ABI_BUILD_DIR:-build-abi}
# The public headers: the source ones and the generated version.h.
CNS_ABI_HEADERS=(--headers-dir include/cnsdiff --headers-dir "$CNS_ABI_BUILD_DIR/include/cnsdiff")
# Absolute paths differ between checkouts, so locations are kept as bare
# file names (--short-locs). They must not be dropped (--no-show-locs):
# abidiff tells public from private types by the header a type was
# declared in, and a type without a location counts as private, so a
# changed public struct would go unreported.
CNS_ABIDW_FLAGS=("${CNS_ABI_HEADERS[@]}" --drop-private-types --no-corpus-path
                 --no-comp-dir-path --short-locs)

cns_abi_build() {
  command -v abidw >/dev/null || { echo "abi: abidw not found (Debian package abigail-tools)" >&2; return 1; }
  cmake -S . -B "$CNS_ABI_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCNS_BUILD_TESTS=OFF -DCNS_BUILD_TOOLS=OFF >/dev/null
  cmake --build "$CNS_ABI_BUILD_DIR" -j"${CNS_JOBS:-2}" --target cnsdiff >/dev/null
  # The SONAME link (libcnsdiff.so.0): the file the dynamic linker loads.
  CNS_ABI_LIB=$(ls "$CNS_ABI_BUILD_DIR"/libcnsdiff.so.[0-9]* | grep -E '\.so\.[0-9]+$' | head -n 1)
  [ -n "$CNS_ABI_LIB" ] || { echo "abi: no libcnsdiff.so.N in $CNS_ABI_BUILD_DIR" >&2; return 1; }
}

# Integer constants are ABI too, but abidiff cannot see most of them:
# parameter ids and metric columns travel as plain int, and macros leave no
# debug info. This writes "NAME VALUE" for every enumerator of the public
# headers and every integer object-like CNS_ macro, as the compiler
# evaluates them, sorted. The version macros are left out: they change
# with every release.
cns_abi_constants() { # <output file>
  local out=$1 gen=$CNS_ABI_BUILD_DIR/abi_constants.c
  local inc=(-Iinclude "-I$CNS_ABI_BUILD_DIR/include")
  local names
  names=$( {
    grep -ohE '\bCNS_[A-Z0-9_]+[[:space:]]*=[^=]' include/cnsdiff/*.h | sed -E 's/[[:space:]]*=.*//'
    "${CC:-cc}" -E -dM "${inc[@]}" include/cnsdiff/cnsdiff.h |
      awk '$1 == "#define" && $2 ~ /^CNS_[A-Z0-9_]+$/ && $2 !~ /^CNS_VERSION_/ {
             body = $0; sub(/^#define [A-Z0-9_]+ /, "", body)
             if (body ~ /^[-+~()0-9a-fA-FxXuUlL *<>|&]+$/) print $2 }'
  } | sort -u)
  {
    echo '#include <cnsdiff/cnsdiff.h>'
    echo '#include <stdio.h>'
    echo 'int main(void) {'
    for n in $names; do printf '    printf("%%s %%lld\\n", "%s", (long long)(%s));\n' "$n" "$n"; done
    echo '    return 0;'
    echo '}'
  } >"$gen"
  "${CC:-cc}" -std=c11 "${inc[@]}" "$gen" -o "${gen%.c}"
  "${gen%.c}" | LC_ALL=C sort >"$out"
}

#!/usr/bin/env bash
# CI stage "doxygen": the API reference is generated from the public
# headers (the `docs` CMake target, docs/Doxyfile.in) with every Doxygen
# warning an error, so an undocumented public function, parameter, return
# value, struct field, enumerator, macro or typedef fails the stage, and so
# does a broken Doxygen command in a comment. Two checks Doxygen cannot
# make itself run around it:
#  - every public header (and cmake/version.h.in) has an @file block:
#    Doxygen skips the members of an undocumented file without a warning;
#  - every function declared CNS_API in include/cnsdiff/ is listed in the
#    reference's function index: a declaration Doxygen failed to parse
#    would otherwise be missing silently.
# The reference lands in <build>/docs/api/html/index.html.
#
# usage: tests/ci/doxygen.sh           (from anywhere)
# env:   CNS_DOCS_BUILD_DIR  build directory (default build-docs)
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${CNS_DOCS_BUILD_DIR:-build-docs}
command -v doxygen >/dev/null || { echo "doxygen: doxygen not found (Debian package doxygen)" >&2; exit 1; }

missing=$(grep -L '@file' include/cnsdiff/*.h cmake/version.h.in || true)
if [ -n "$missing" ]; then
  echo "doxygen: FAIL: no @file block (Doxygen would skip their members unchecked):" >&2
  echo "$missing" | sed 's/^/  /' >&2
  exit 1
fi

# Only the headers matter: configure, no need to compile anything.
cmake -S . -B "$dir" -DCNS_BUILD_TESTS=OFF -DCNS_BUILD_TOOLS=OFF >/dev/null
log=$dir/docs/doxygen.log
mkdir -p "$dir/docs"
set +e
cmake --build "$dir" --target docs >"$log" 2>&1
status=$?
set -e
warnings=$(grep -c -E '(warning|error): ' "$log" || true)
if [ "$status" -ne 0 ] || [ "$warnings" -ne 0 ]; then
  grep -E '(warning|error): ' "$log" >&2 || cat "$log" >&2
  echo "doxygen: FAIL: $warnings Doxygen warning(s) on the public headers (status $status):" \
       "document each symbol, field, enumerator and parameter named above (docs/API.md, \"API reference\")" >&2
  exit 1
fi

index=$dir/docs/api/html/globals_func.html
[ -f "$index" ] || { echo "doxygen: FAIL: $index was not generated" >&2; exit 1; }
declared=$(grep -ohE '^CNS_API[^(]*\bcns_[a-z0-9_]+\(' include/cnsdiff/*.h | grep -oE 'cns_[a-z0-9_]+\($' | tr -d '(' | sort -u)
absent=$(for f in $declared; do grep -q "<li>$f()" "$index" || echo "$f"; done)
if [ -n "$absent" ]; then
  echo "doxygen: FAIL: declared CNS_API but missing from the reference:" >&2
  echo "$absent" | sed 's/^/  /' >&2
  exit 1
fi
echo "doxygen: OK: $(echo "$declared" | wc -l) functions and every field, enumerator and macro" \
     "documented; reference in $dir/docs/api/html/index.html"

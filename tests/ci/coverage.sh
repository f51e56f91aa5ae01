#!/usr/bin/env bash
# CI stage "coverage": a -DCNS_COVERAGE=ON (gcov) build, every ctest test,
# then gcovr over lib/ only. Prints the line coverage per file and in
# total, and writes
#   <build>/coverage.txt   gcovr's text report
#   <build>/coverage.json  gcovr's JSON summary
#   <build>/coverage.md    a Markdown table for docs/
# Fails when the total line coverage is below CNS_COVERAGE_MIN percent
# (default 0: report only).
#
# usage: tests/ci/coverage.sh
# env:   CNS_COVERAGE_MIN        minimum total line coverage, percent (default 0)
#        CNS_COVERAGE_BUILD_DIR  build directory (default build-coverage)
#        CNS_JOBS                parallel build and test jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${CNS_COVERAGE_BUILD_DIR:-build-coverage}
min=${CNS_COVERAGE_MIN:-0}
jobs=${CNS_JOBS:-2}
command -v gcovr >/dev/null || { echo "coverage: gcovr not found (Debian package gcovr)" >&2; exit 1; }

cmake -S . -B "$dir" -DCNS_COVERAGE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$dir" -j"$jobs"
# Counters of an earlier run would add up with this one.
find "$dir" -name '*.gcda' -delete
ctest --test-dir "$dir" --output-on-failure -j"$jobs"

# Counters live beside the objects: the libraries' and the suites' (whose
# objects hold the inline functions of lib/*.h). The consumer test's
# scratch projects are left out.
gcovr --root . --filter 'lib/' --object-directory "$dir" \
  --txt "$dir/coverage.txt" --json-summary-pretty --json-summary "$dir/coverage.json" \
  "$dir/CMakeFiles" "$dir/tests/CMakeFiles"
cat "$dir/coverage.txt"

python3 - "$dir/coverage.json" "$dir/coverage.md" "$min" <<'PY'
import json, sys
src, md, minimum = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = json.load(open(src))
def pct(covered, total):
    return 100.0 * covered / total if total else 100.0
rows = ["| File | Lines | Covered | Line coverage |", "|---|---:|---:|---:|"]
for f in sorted(s["files"], key=lambda f: f["filename"]):
    rows.append("| %s | %d | %d | %.1f%% |" % (f["filename"], f["line_total"], f["line_covered"],
                                             pct(f["line_covered"], f["line_total"])))
total = pct(s["line_covered"], s["line_total"])
rows.append("| **lib/ total** | %d | %d | **%.1f%%** |" % (s["line_total"], s["line_covered"], total))
open(md, "w").write("\n".join(rows) + "\n")
print("coverage: lib/ line coverage %.1f%% (%d of %d lines); Markdown table in %s"
      % (total, s["line_covered"], s["line_total"], md))
if total < minimum:
    print("coverage: FAIL: %.1f%% is below CNS_COVERAGE_MIN=%g%%" % (total, minimum), file=sys.stderr)
    sys.exit(1)
PY

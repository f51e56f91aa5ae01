#!/usr/bin/env bash
# Export check of the shared library (ctest `exports`, see tests/exports.cmake):
#  - every defined dynamic symbol is public API: it starts with cns_ and
#    a letter or digit (cns__ marks internal functions, which must stay
#    hidden), and is declared in a public header;
#  - the SONAME is the expected one.
# Only the five symbols older GNU ld versions add to every shared object
# are tolerated: _init _fini __bss_start _edata _end.
#
# usage: check_exports.sh <libcnsdiff.so.N> <expected SONAME> <public header dir>
set -euo pipefail

lib=$1 soname=$2 headers=$3
fail=0

[ -f "$lib" ] || { echo "exports: FAIL: no such file: $lib" >&2; exit 1; }

# "VALUE TYPE NAME" per line (--defined-only leaves out undefined references).
syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $2, $3 }')
count=0
while read -r type name; do
  [ -n "$name" ] || continue
  case $name in
    _init|_fini|__bss_start|_edata|_end) continue ;;
  esac
  name=${name%%@*} # drop a version suffix, if a version script ever adds one
  if [[ $name == cns__* ]]; then
    echo "exports: FAIL: $name (nm type $type) is internal (cns__) but exported" >&2
    fail=1
    continue
  fi
  if [[ ! $name =~ ^cns_[a-z0-9] ]]; then
    echo "exports: FAIL: $name (nm type $type) is exported but is not public API (cns_*)" >&2
    fail=1
    continue
  fi
  # A CNS_API on something no header declares (a function "name(" or an
  # object "name;" / "name[") is a leak all the same.
  if ! grep -Eq "\\b$name[[:space:]]*[(;[]" "$headers"/*.h; then
    echo "exports: FAIL: $name (nm type $type) is exported but declared in no header of $headers" >&2
    fail=1
    continue
  fi
  count=$((count + 1))
done <<<"$syms"

if [ "$count" -eq 0 ]; then
  echo "exports: FAIL: no cns_ symbol exported by $lib (nm failed or everything is hidden)" >&2
  fail=1
fi

got=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$got" != "$soname" ]; then
  echo "exports: FAIL: SONAME is '${got}', expected '$soname'" >&2
  fail=1
fi

[ "$fail" -eq 0 ] && echo "exports: OK: $count cns_ symbols, SONAME $got"
exit "$fail"
